import Foundation
import Security

/// Why the store's secret could not be read or written. Carries no key bytes.
///
/// `.corrupt` means the secret is gone: the encrypted store cannot be opened and its unsynced
/// records are lost. The helper never replaces it by itself. Tell the worker the data on this
/// phone cannot be opened and to contact support; only on an explicit decision call
/// `wipe(dataDir:)` and start afresh with a sync. `.keychain` and `.random` changed nothing:
/// retry later (`errSecInteractionNotAllowed`, -25308: the phone was not unlocked since it
/// started).
public enum StoreKeyError: Error, Equatable {
    case keychain(operation: String, status: OSStatus)
    case corrupt(slot: StoreKey.Slot)
    case random(status: OSStatus)
    /// `beginRotation()` while a rotation is pending: open the store first (`openWorker`).
    case rotationPending
}

/// The store's 32-byte key on iOS: random (`SecRandomCopyBytes`), kept in the Keychain as a
/// generic password (service `org.gridworker.store-key`, accounts `current` and `pending`),
/// `kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly`: background sync can read it while the
/// phone is locked once it has been unlocked since boot, and it never migrates to another
/// phone (backups restored there, iCloud Keychain). Read once, then cached in memory.
///
/// Rotation: `beginRotation()` stores a new secret as `pending`; the store is re-encrypted
/// (`rekeyStore`); `commitRotation()` makes it `current`. After a crash anywhere in between,
/// `candidates()` gives pending then current: open with the first, the second on `Locked`,
/// then commit (pending opened) or abort (current opened). `openWorker(config:)` and
/// `rotate(config:)` do exactly that. Never wipe or recover a store that is `Locked`.
public final class StoreKey: @unchecked Sendable {
    public enum Slot: String, Sendable { case current, pending }

    public struct Candidate: Sendable {
        public let slot: Slot
        public let secret: Data
    }

    public static let length = 32
    public static let defaultService = "org.gridworker.store-key"
    /// The app's instance: its lock and cache must be shared by every caller.
    public static let shared = StoreKey()

    public let service: String
    private let lock = NSRecursiveLock()
    private var cache: [Slot: Data] = [:]

    public init(service: String = StoreKey.defaultService) {
        self.service = service
    }

    /// The store's secret, created on first use. Never replaces one it cannot read.
    public func current() throws -> Data {
        lock.lock(); defer { lock.unlock() }
        if let secret = try read(.current) { return secret }
        // The store may be under the pending secret: a new current one would lock it out.
        if try read(.pending) != nil { throw StoreKeyError.corrupt(slot: .current) }
        let secret = try Self.randomSecret()
        let status = add(.current, secret)
        // Another process (an extension) created it meanwhile: use theirs. Add never overwrites.
        if status == errSecDuplicateItem, let theirs = try read(.current) { return theirs }
        guard status == errSecSuccess else { throw StoreKeyError.keychain(operation: "add", status: status) }
        return secret
    }

    /// Stores a new secret as pending and returns it. Refused while one is pending.
    public func beginRotation() throws -> Data {
        lock.lock(); defer { lock.unlock() }
        guard try read(.pending) == nil else { throw StoreKeyError.rotationPending }
        _ = try current()
        let secret = try Self.randomSecret()
        let status = add(.pending, secret)
        guard status == errSecSuccess else { throw StoreKeyError.keychain(operation: "add", status: status) }
        return secret
    }

    /// Pending becomes current. Call once `rekeyStore` returned; no-op without a pending secret.
    public func commitRotation() throws {
        lock.lock(); defer { lock.unlock() }
        guard let pending = try read(.pending) else { return }
        // Current takes the new value before pending goes: a crash in between leaves both
        // equal, which candidates() resolves the same way.
        var status = SecItemUpdate(query(.current) as CFDictionary,
                                   [kSecValueData as String: pending] as CFDictionary)
        if status == errSecItemNotFound { status = add(.current, pending) }
        guard status == errSecSuccess else { throw StoreKeyError.keychain(operation: "update", status: status) }
        cache[.current] = pending
        try delete(.pending)
    }

    /// Drops the pending secret: only when the store opened with current.
    public func abortRotation() throws {
        lock.lock(); defer { lock.unlock() }
        try delete(.pending)
    }

    /// The secrets to open the store with, in order: pending (a rotation was interrupted),
    /// then current (created on first use). Pending alone when current is missing.
    public func candidates() throws -> [Candidate] {
        lock.lock(); defer { lock.unlock() }
        guard let pending = try read(.pending) else {
            return [Candidate(slot: .current, secret: try current())]
        }
        guard let existing = try read(.current) else { return [Candidate(slot: .pending, secret: pending)] }
        return [Candidate(slot: .pending, secret: pending), Candidate(slot: .current, secret: existing)]
    }

    /// Opens the store with its key (a plain store of the previous release is encrypted in
    /// place), finishing an interrupted rotation. `config.key` is ignored.
    public func openWorker(config: WorkerConfig) throws -> GridWorker {
        try withCandidates { key in
            var c = config
            c.key = key
            return try GridWorker.open(config: c)
        }
    }

    /// Re-encrypts the store under a new secret. Release every `GridWorker` and `SyncEngine`
    /// on the directory first. Both secrets are kept until `rekeyStore` returns; a crash or an
    /// error leaves the rotation pending for the next `openWorker(config:)`.
    public func rotate(config: WorkerConfig) throws {
        lock.lock(); defer { lock.unlock() }
        do {
            // Settles an earlier rotation; the handle is released at the end of this scope.
            let worker = try openWorker(config: config)
            withExtendedLifetime(worker) {}
        }
        var c = config
        c.key = try current()
        let new = try beginRotation()
        try rekeyStore(config: c, newKey: new)
        try commitRotation()
    }

    /// `recoverStore` for a store failing with `Storage(needsRecovery: true)`, with the right key.
    public func recover(dataDir: String) throws -> RecoveryReport {
        try withCandidates { key in try recoverStore(dataDir: dataDir, key: key) }
    }

    /// Erases the worker's data: `wipeDataDir`, then the secrets (crypto-shredding: what the
    /// flash keeps of deleted files stays unreadable). In this order so that a failing
    /// `wipeDataDir` (a handle still open) leaves the key and loses nothing. If deleting
    /// the secrets fails, the data is already gone: call again.
    public func wipe(dataDir: String) throws {
        try wipeDataDir(dataDir: dataDir)
        try destroy()
    }

    /// Deletes both secrets. Keychain items outlive an uninstall; this does not.
    public func destroy() throws {
        lock.lock(); defer { lock.unlock() }
        try delete(.pending)
        try delete(.current)
    }

    // MARK: - private

    // A damaged pending secret does not stop current from being tried; if current is
    // refused too, that damage is what is thrown. Commit/abort failures are not thrown: the
    // handle is valid and the next open finishes the rotation.
    private func withCandidates<T>(_ body: (Data) throws -> T) throws -> T {
        lock.lock(); defer { lock.unlock() }
        var pending: Data?
        var pendingDamage: StoreKeyError?
        do {
            pending = try read(.pending)
        } catch let e as StoreKeyError where e == .corrupt(slot: .pending) {
            pendingDamage = e
        }
        var refused: Error?
        if let pending {
            do {
                let result = try body(pending)
                try? commitRotation()
                return result
            } catch let e as GridWorkerError {
                guard case .Locked = e else { throw e }
                refused = e
            }
        }
        let rotating = pending != nil || pendingDamage != nil
        let hasCurrent = try read(.current) != nil
        if rotating && !hasCurrent {
            if let pendingDamage { throw pendingDamage }
            if let refused { throw refused }
        }
        do {
            let result = try body(try current())
            if rotating { try? abortRotation() }
            return result
        } catch let e as GridWorkerError {
            if case .Locked = e, let pendingDamage { throw pendingDamage }
            throw e
        }
    }

    private func query(_ slot: Slot) -> [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: slot.rawValue,
            kSecUseDataProtectionKeychain as String: true,
        ]
    }

    private func read(_ slot: Slot) throws -> Data? {
        if let cached = cache[slot] { return cached }
        var q = query(slot)
        q[kSecReturnData as String] = true
        q[kSecMatchLimit as String] = kSecMatchLimitOne
        var out: CFTypeRef?
        let status = SecItemCopyMatching(q as CFDictionary, &out)
        switch status {
        case errSecSuccess:
            guard let data = out as? Data, data.count == Self.length else { throw StoreKeyError.corrupt(slot: slot) }
            cache[slot] = data
            return data
        case errSecItemNotFound:
            return nil
        default:
            throw StoreKeyError.keychain(operation: "read", status: status)
        }
    }

    private func add(_ slot: Slot, _ secret: Data) -> OSStatus {
        var q = query(slot)
        q[kSecValueData as String] = secret
        q[kSecAttrAccessible as String] = kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        let status = SecItemAdd(q as CFDictionary, nil)
        if status == errSecSuccess { cache[slot] = secret }
        return status
    }

    private func delete(_ slot: Slot) throws {
        let status = SecItemDelete(query(slot) as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw StoreKeyError.keychain(operation: "delete", status: status)
        }
        cache[slot] = nil
    }

    private static func randomSecret() throws -> Data {
        var bytes = [UInt8](repeating: 0, count: length)
        let status = SecRandomCopyBytes(kSecRandomDefault, bytes.count, &bytes)
        guard status == errSecSuccess else { throw StoreKeyError.random(status: status) }
        return Data(bytes)
    }
}
