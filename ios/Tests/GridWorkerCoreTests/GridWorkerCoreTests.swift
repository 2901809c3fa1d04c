// Mirrors android/src/test/kotlin/org/gridworker/core/*Test.kt (and StoreKeyTest.kt for the
// Keychain helper). Run on a simulator:
//   swift test is not available for iOS; use
//   xcodebuild test -scheme GridWorkerCore -destination 'platform=iOS Simulator,name=iPhone 15'
// The sync tests need the reference server on the Mac (the simulator shares its 127.0.0.1):
//   cargo run -p gridworker-server -- --data /tmp/gw --listen 127.0.0.1:8765 \
//     --fixtures fixtures/district-small --token w-0001:tok-1 --admin-token admin
// and GRIDWORKER_SERVER_URL=http://127.0.0.1:8765 in the scheme's test environment.
import CoreLocation
import Foundation
import XCTest
@testable import GridWorkerCore

private let lat = 45.300
private let lon = 130.950

/// Repository root, found from this file's path (the simulator sees the Mac's disk).
private let repo = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

private func photo(_ name: String) -> String { repo.appendingPathComponent("fixtures/photos/\(name)").path }

private func tempDir() -> URL {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("gw-swift-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
    return d
}

private func config(_ dir: URL, server: String = "https://127.0.0.1:1", key: Data? = nil) -> WorkerConfig {
    WorkerConfig(dataDir: dir.appendingPathComponent("store").path, serverUrl: server, workerId: "w-0001",
                 deviceId: "dev-swift", policyOverride: nil, timeZone: "Asia/Shanghai", key: key)
}

private func fix(_ la: Double, _ lo: Double, accuracy: Double = 8, mock: Bool = false, at: Date = Date(),
                 laterMs: Int64 = 0) -> LocationFix {
    // LocationFix is a read-only value (issue 16 item 5): a later fix is a new one.
    LocationFix(lat: la, lon: lo, accuracyM: accuracy, altitudeM: nil, speedMps: nil, bearingDeg: nil,
                provider: .gps, crs: .wgs84, isMock: mock, fixTime: at,
                monotonicMs: Int64(CLLocation.monotonicNow() * 1000) + laterMs)
}

private func seed(_ w: GridWorker) throws {
    let d = 0.0015
    let grid = Grid(code: "g-kt", name: "测试网格", boundary: [
        Position(lat: lat - d, lon: lon - d), Position(lat: lat - d, lon: lon + d),
        Position(lat: lat + d, lon: lon + d), Position(lat: lat + d, lon: lon - d),
    ])
    let points = [
        InspectionPoint(id: "p-kt-1", gridCode: "g-kt", name: "1号楼楼道", position: Position(lat: lat, lon: lon), radiusM: 50),
        InspectionPoint(id: "p-kt-2", gridCode: "g-kt", name: "锅炉房", position: Position(lat: lat + 0.001, lon: lon + 0.001), radiusM: 0),
    ]
    let households = [
        Household(id: "h-kt-1", gridCode: "g-kt", building: "1号楼", address: "测试地址 1号楼 1单元 101",
                  position: Position(lat: lat + 0.0001, lon: lon), tags: []),
    ]
    try w.importReference(grids: [grid], points: points, households: households, workerGrids: ["g-kt"])
}

private func openSeeded() throws -> GridWorker {
    let w = try GridWorker.open(config: config(tempDir()))
    try seed(w)
    return w
}

private func assertInvalid(_ field: String, _ body: () throws -> Void, line: UInt = #line) {
    do {
        try body()
        XCTFail("expected InvalidInput(\(field))", line: line)
    } catch GridWorkerError.InvalidInput(let f, _, let input) {
        XCTAssertTrue(f.hasPrefix(field), "field \(f)", line: line)
        XCTAssertNotEqual(input, .other, "field \(f) has no InputField of its own", line: line)
    } catch {
        XCTFail("expected InvalidInput(\(field)), got \(error)", line: line)
    }
}

final class StaticTokens: AccessTokenProvider, @unchecked Sendable {
    let token: String
    init(_ token: String) { self.token = token }
    func accessToken(forceRefresh: Bool) throws -> String { token }
}

final class RefreshingTokens: AccessTokenProvider, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var refreshes = 0
    private var current: String
    private let fresh: String
    init(stale: String, fresh: String) { current = stale; self.fresh = fresh }
    func accessToken(forceRefresh: Bool) throws -> String {
        lock.lock(); defer { lock.unlock() }
        if forceRefresh { refreshes += 1; current = fresh }
        return current
    }
}

final class CountingTokens: AccessTokenProvider, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var asked: [Bool] = []
    let token: String
    init(_ token: String) { self.token = token }
    func accessToken(forceRefresh: Bool) throws -> String {
        lock.lock(); asked.append(forceRefresh); lock.unlock()
        return token
    }
}

final class Events: SyncListener, @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [SyncProgress] = []
    var all: [SyncProgress] { lock.lock(); defer { lock.unlock() }; return seen }
    func onProgress(progress: SyncProgress) throws {
        lock.lock(); seen.append(progress); lock.unlock()
    }
}

final class SettableClock: WallClock, @unchecked Sendable {
    private let lock = NSLock()
    private var at: Date
    init(_ at: Date) { self.at = at }
    func now() throws -> Date { lock.lock(); defer { lock.unlock() }; return at }
    func advance(_ s: TimeInterval) { lock.lock(); at += s; lock.unlock() }
}

final class ClockTests: XCTestCase {
    func testAReplayedMorningIsJudgedByTheTestsClock() throws {
        let start = ISO8601DateFormatter().date(from: "2024-11-12T01:00:00Z")!
        let clock = SettableClock(start)
        let w = try GridWorker.openWithClock(config: config(tempDir()), clock: clock)
        try seed(w)
        let first = try w.checkIn(pointId: "p-kt-1", fix: fix(lat, lon, at: start))
        XCTAssertEqual(first.checkIn.outcome, .accepted)
        XCTAssertEqual(first.checkIn.recordedAt, start)
        clock.advance(300)
        XCTAssertTrue(try w.checkIn(pointId: "p-kt-1", fix: fix(lat, lon, at: start + 300, laterMs: 300_000)).duplicate)
        let day = try w.progressDay(day: nil).fromDay
        XCTAssertEqual([day.year, day.month, day.day], [2024, 11, 12])
    }
}

final class Phases: SyncListener, @unchecked Sendable {
    private let lock = NSLock()
    private(set) var seen: [SyncPhase] = []
    func onProgress(progress: SyncProgress) throws {
        lock.lock(); seen.append(progress.phase); lock.unlock()
    }
}

final class RecordingTests: XCTestCase {
    func testCheckInAcceptedThenDuplicate() throws {
        let w = try openSeeded()
        let r = try w.checkIn(pointId: "p-kt-1", fix: fix(lat, lon))
        XCTAssertFalse(r.duplicate)
        XCTAssertEqual(r.checkIn.outcome, .accepted)
        XCTAssertTrue(try w.checkIn(pointId: "p-kt-1", fix: fix(lat, lon)).duplicate)
        XCTAssertEqual(try w.listCheckins(offset: 0, limit: 10).count, 1)
        XCTAssertEqual(try w.syncCounts().pending.checkins, 1)
    }

    func testMockFixFlagged() throws {
        let w = try openSeeded()
        let r = try w.checkIn(pointId: "p-kt-2", fix: fix(lat - 0.003, lon, accuracy: 300, mock: true))
        XCTAssertEqual(r.checkIn.outcome, .flagged)
        XCTAssertTrue(r.checkIn.flags.contains(.mockLocation))
    }

    func testVisitAndReports() throws {
        let w = try openSeeded()
        let v = try w.recordVisit(householdId: "h-kt-1", kind: .careVisit, note: "走访", fix: fix(lat, lon))
        XCTAssertEqual(v.kind, .careVisit)
        let draft = try w.createReportDraft(category: "dumped_waste", description: "建筑垃圾")
        _ = try w.addPhotoToDraft(reportId: draft.id, photo: PhotoInput(path: photo("dumped-waste.jpg"), capturedAt: nil))
        XCTAssertEqual(try w.submitReport(reportId: draft.id, fix: fix(lat, lon), attachTo: nil).status, .queued)
        let filed = try w.fileReport(category: "leaking_manhole", description: "井盖", photos: [
            PhotoInput(path: photo("manhole-leak.jpg"), capturedAt: nil),
        ], fix: fix(lat, lon), attachTo: nil)
        XCTAssertEqual(filed.photos.count, 1)
        XCTAssertEqual(try w.listReports(offset: 0, limit: 10).count, 2)
        XCTAssertEqual(try w.progressDay(day: nil).missed, 2)
    }

    func testSeveralTasksRecordAtOnce() async throws {
        let w = try openSeeded()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<8 {
                group.addTask {
                    for j in 0..<10 {
                        _ = try w.recordVisit(householdId: "h-kt-1", kind: .routine, note: "\(i)-\(j)", fix: fix(lat, lon))
                    }
                }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(try w.syncCounts().pending.visits, 80)
    }
}

final class BadInputTests: XCTestCase {
    func testHostileValues() throws {
        let w = try openSeeded()
        let huge = String(repeating: "界", count: 3_000_000)
        assertInvalid("fix.lat") { _ = try w.checkIn(pointId: "p-kt-1", fix: fix(.nan, lon)) }
        assertInvalid("fix.lon") { _ = try w.checkIn(pointId: "p-kt-1", fix: fix(lat, .infinity)) }
        assertInvalid("fix.accuracy_m") { _ = try w.checkIn(pointId: "p-kt-1", fix: fix(lat, lon, accuracy: -1)) }
        assertInvalid("point_id") { _ = try w.checkIn(pointId: "", fix: fix(lat, lon)) }
        assertInvalid("point_id") { _ = try w.checkIn(pointId: huge, fix: fix(lat, lon)) }
        assertInvalid("note") { _ = try w.recordVisit(householdId: "h-kt-1", kind: .routine, note: huge, fix: fix(lat, lon)) }
        assertInvalid("photos[0]") {
            _ = try w.fileReport(category: "other", description: "", photos: [PhotoInput(path: "/no/such.jpg", capturedAt: nil)],
                                 fix: fix(lat, lon), attachTo: nil)
        }
        assertInvalid("photos[0]") {
            _ = try w.fileReport(category: "other", description: "", photos: [PhotoInput(path: photo("not-an-image.jpg"), capturedAt: nil)],
                                 fix: fix(lat, lon), attachTo: nil)
        }
        // DateComponents without a day, or a year the core does not take, are refused.
        assertInvalid("day") { _ = try w.progressDay(day: DateComponents(year: 2026, month: 11)) }
        assertInvalid("day") { _ = try w.progressDay(day: DateComponents(year: 10_000, month: 1, day: 1)) }
        // Counts are Int32/Int64 like Kotlin's Int/Long; below zero is refused.
        assertInvalid("limit") { _ = try w.checkinsPage(after: nil, limit: -1) }
        assertInvalid("config.worker_id") {
            var c = config(tempDir()); c.workerId = ""
            _ = try GridWorker.open(config: c)
        }
        XCTAssertThrowsError(try w.checkIn(pointId: "p-nope", fix: fix(lat, lon))) { e in
            guard case GridWorkerError.NotFound = e else { return XCTFail("\(e)") }
        }
        XCTAssertEqual(try w.syncCounts().pending.checkins, 0)
    }

    func testCorruptDatabaseIsStorage() throws {
        let dir = tempDir()
        let store = dir.appendingPathComponent("store")
        try FileManager.default.createDirectory(at: store, withIntermediateDirectories: true)
        try Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: store.appendingPathComponent("gridworker.db"))
        XCTAssertThrowsError(try GridWorker.open(config: config(dir))) { e in
            guard case let GridWorkerError.Storage(_, needsRecovery) = e, needsRecovery else {
                return XCTFail("\(e)")
            }
        }
        // Left untouched until the app recovers: then a fresh store with the counts.
        let report = try recoverStore(dataDir: store.path)
        XCTAssertFalse(report.wasHealthy)
        XCTAssertNotNil(report.keptAt)
        XCTAssertNoThrow(try GridWorker.open(config: config(dir)))
    }
}

final class SyncTests: XCTestCase {
    private func serverURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["GRIDWORKER_SERVER_URL"] else {
            throw XCTSkip("GRIDWORKER_SERVER_URL not set (see the header of this file)")
        }
        return url
    }

    private func options() -> SyncOptions {
        var o = defaultSyncOptions()
        o.allowHttp = true
        o.maxAttempts = 2
        o.baseBackoff = 0.02
        o.maxBackoff = 0.05
        return o
    }

    func testSyncWithProgressAndRefresh() async throws {
        let w = try GridWorker.open(config: config(tempDir(), server: try serverURL()))
        let tokens = RefreshingTokens(stale: "expired", fresh: "tok-1")
        let engine = try SyncEngine(worker: w, options: options(), tokens: tokens)
        let phases = Phases()
        let handle = engine.addListener(listener: phases)
        let report = try await engine.sync()
        XCTAssertGreaterThan(report.pulledChanges, 0)
        XCTAssertEqual(tokens.refreshes, 1)
        XCTAssertTrue(phases.seen.contains(.done))
        handle.detach()
        XCTAssertFalse(handle.isAttached())
    }

    func testInvalidateTokenAsksTheProviderAgain() async throws {
        let w = try GridWorker.open(config: config(tempDir(), server: try serverURL()))
        let tokens = CountingTokens("tok-1")
        let engine = try SyncEngine(worker: w, options: options(), tokens: tokens)
        _ = try await engine.sync()
        _ = try await engine.sync()
        XCTAssertEqual(tokens.asked, [false])
        engine.invalidateToken()
        _ = try await engine.sync()
        XCTAssertEqual(tokens.asked, [false, false])
    }

    func testSyncNowGivesUpWithinSecondsAndReportsItsOutcome() async throws {
        let w = try GridWorker.open(config: config(tempDir(), server: "http://127.0.0.1:9"))
        var o = defaultSyncOptions()
        o.allowHttp = true
        let engine = try SyncEngine(worker: w, options: o, tokens: StaticTokens("t"))
        XCTAssertEqual(engine.currentState(), .idle)
        let events = Events()
        let handle = engine.addListener(listener: events)
        let started = Date()
        do {
            _ = try await engine.syncNow()
            XCTFail("the server is down")
        } catch GridWorkerError.Network {
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 15)
        XCTAssertEqual(events.all.compactMap { $0.retry?.attempt }, [1, 2])
        XCTAssertEqual(events.all.last?.outcome?.succeeded, false)
        XCTAssertEqual(events.all.last?.outcome?.error, "network")
        engine.setNetwork(kind: .none)
        XCTAssertEqual(engine.currentState(), .offline)
        handle.detach()
    }

    func testOfflineAndCancel() async throws {
        let w = try GridWorker.open(config: config(tempDir(), server: "http://127.0.0.1:9"))
        let engine = try SyncEngine(worker: w, options: options(), tokens: StaticTokens("t"))
        engine.setNetwork(kind: .none)
        do {
            _ = try await engine.sync()
            XCTFail("offline sync must fail")
        } catch GridWorkerError.Network {
        }
        engine.cancel() // nothing running: harmless
    }
}

private func testKey(_ fill: UInt8) -> Data { Data(repeating: fill, count: 32) }

private func assertLocked(_ reason: LockReason, line: UInt = #line, _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected Locked(\(reason))", line: line)
    } catch GridWorkerError.Locked(let r) {
        XCTAssertEqual(r, reason, line: line)
    } catch {
        XCTFail("expected Locked(\(reason)), got \(error)", line: line)
    }
}

/// A store (under `key`, or plain) with one check-in; its handle is released on return.
private func storeWithCheckIn(_ dir: URL, key: Data?) throws {
    let w = try GridWorker.open(config: config(dir, key: key))
    try seed(w)
    _ = try w.checkIn(pointId: "p-kt-1", fix: fix(lat, lon))
}

/// Mirrors android/src/test/kotlin/org/gridworker/core/EncryptionTest.kt.
final class EncryptionTests: XCTestCase {
    func testKeyedStoreReopensAndAWrongOrMissingKeyIsLocked() throws {
        let dir = tempDir()
        try storeWithCheckIn(dir, key: testKey(0x11))
        assertLocked(.wrongKey) { _ = try GridWorker.open(config: config(dir, key: testKey(0x12))) }
        assertLocked(.keyMissing) { _ = try GridWorker.open(config: config(dir)) }
        XCTAssertThrowsError(try recoverStore(dataDir: config(dir).dataDir, key: testKey(0x12))) { e in
            guard case GridWorkerError.Locked = e else { return XCTFail("\(e)") }
        }
        let w = try GridWorker.open(config: config(dir, key: testKey(0x11)))
        XCTAssertEqual(try w.listCheckins(offset: 0, limit: 10).count, 1)
    }

    func testAKeyMustBe32Bytes() {
        assertInvalid("config.key") { _ = try GridWorker.open(config: config(tempDir(), key: Data(count: 31))) }
    }

    func testRekeyStoreMovesTheStoreToTheNewKey() throws {
        let dir = tempDir()
        try storeWithCheckIn(dir, key: testKey(0x33))
        try rekeyStore(config: config(dir, key: testKey(0x33)), newKey: testKey(0x34))
        assertLocked(.wrongKey) { _ = try GridWorker.open(config: config(dir, key: testKey(0x33))) }
        let w = try GridWorker.open(config: config(dir, key: testKey(0x34)))
        XCTAssertEqual(try w.syncCounts().pending.checkins, 1)
    }

    func testPlainStoreIsEncryptedOnTheFirstOpenWithAKey() throws {
        let dir = tempDir()
        try storeWithCheckIn(dir, key: nil)
        do {
            let w = try GridWorker.open(config: config(dir, key: testKey(0x44)))
            XCTAssertEqual(try w.syncCounts().pending.checkins, 1)
        }
        assertLocked(.keyMissing) { _ = try GridWorker.open(config: config(dir)) }
    }
}

/// StoreKey against the real Keychain, one service per test. Mirrors
/// android/src/test/kotlin/org/gridworker/android/StoreKeyTest.kt where the Keychain allows.
final class StoreKeyTests: XCTestCase {
    private var service = ""

    /// A new instance, as after a restart (nothing cached).
    private func fresh() -> StoreKey { StoreKey(service: service) }

    override func setUpWithError() throws {
        service = "org.gridworker.store-key.test-\(UUID().uuidString)"
        do {
            _ = try fresh().current()
        } catch StoreKeyError.keychain(_, let status) where status == errSecMissingEntitlement {
            throw XCTSkip("this test host has no Keychain access (errSecMissingEntitlement)")
        }
        try fresh().destroy()
    }

    override func tearDownWithError() throws {
        try fresh().destroy()
    }

    func testCreatesOnceThenReadsTheSameSecret() throws {
        let a = try fresh().current()
        XCTAssertEqual(a.count, 32)
        XCTAssertEqual(try fresh().current(), a)
    }

    func testRotationCandidatesThenCommit() throws {
        let keys = fresh()
        let old = try keys.current()
        let new = try keys.beginRotation()
        XCTAssertNotEqual(old, new)
        XCTAssertThrowsError(try keys.beginRotation()) { XCTAssertEqual($0 as? StoreKeyError, .rotationPending) }
        let c = try fresh().candidates()
        XCTAssertEqual(c.map(\.slot), [.pending, .current])
        XCTAssertEqual(c.map(\.secret), [new, old])
        try keys.commitRotation()
        XCTAssertEqual(try fresh().current(), new)
        XCTAssertEqual(try fresh().candidates().map(\.slot), [.current])
    }

    func testAbortKeepsTheOldSecret() throws {
        let old = try fresh().current()
        _ = try fresh().beginRotation()
        try fresh().abortRotation()
        XCTAssertEqual(try fresh().candidates().map(\.secret), [old])
    }

    func testOpenWorkerFinishesAnInterruptedRotation() throws {
        let dir = tempDir()
        do {
            let w = try fresh().openWorker(config: config(dir))
            try seed(w)
            _ = try w.checkIn(pointId: "p-kt-1", fix: fix(lat, lon))
        }
        let old = try fresh().current()
        // Killed after rekeyStore returned, before commit: opens with pending, commits.
        let new = try fresh().beginRotation()
        try rekeyStore(config: config(dir, key: old), newKey: new)
        do {
            let w = try fresh().openWorker(config: config(dir))
            XCTAssertEqual(try w.syncCounts().pending.checkins, 1)
        }
        XCTAssertEqual(try fresh().candidates().map(\.secret), [new])
        // Killed before rekeyStore: pending refused (Locked), current opens, pending dropped.
        _ = try fresh().beginRotation()
        do { _ = try fresh().openWorker(config: config(dir)) }
        XCTAssertEqual(try fresh().candidates().map(\.secret), [new])
    }

    func testRotateThenWipeShredsTheKey() throws {
        let dir = tempDir()
        let keys = fresh()
        do {
            let w = try keys.openWorker(config: config(dir))
            try seed(w)
            _ = try w.checkIn(pointId: "p-kt-1", fix: fix(lat, lon))
        }
        let old = try keys.current()
        try keys.rotate(config: config(dir))
        let new = try keys.current()
        XCTAssertNotEqual(old, new)
        assertLocked(.wrongKey) { _ = try GridWorker.open(config: config(dir, key: old)) }
        do {
            let w = try keys.openWorker(config: config(dir))
            XCTAssertEqual(try w.syncCounts().pending.checkins, 1)
        }
        let store = config(dir).dataDir
        try keys.wipe(dataDir: store)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: store), [])
        XCTAssertNotEqual(try fresh().current(), new) // a fresh start, not an error
    }
}
