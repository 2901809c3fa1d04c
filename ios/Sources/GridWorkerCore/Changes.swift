import Foundation

public extension GridWorker {
    /// The kinds of data that changed, as an `AsyncStream`: each iteration registers its own
    /// observer, and ending it (the task cancelled, the loop left) stops the observer.
    /// Elements come after the write committed; a slow consumer gets the newest.
    ///
    /// ```swift
    /// for await _ in worker.changes([.checkIns, .syncCounts]) {
    ///     let page = try worker.checkinsPage(after: nil, limit: 50)
    ///     await MainActor.run { self.items = page.items }
    /// }
    /// ```
    ///
    /// Not compiled in this repository (no Swift toolchain here); the Kotlin `changes()` Flow
    /// is the tested twin.
    func changes(_ kinds: [ChangeKind] = []) -> AsyncStream<[ChangeKind]> {
        AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let handle = self.observe(kinds: kinds, observer: StreamObserver(continuation))
            continuation.onTermination = { _ in handle.stop() }
        }
    }
}

private final class StreamObserver: ChangeObserver, @unchecked Sendable {
    private let continuation: AsyncStream<[ChangeKind]>.Continuation
    init(_ continuation: AsyncStream<[ChangeKind]>.Continuation) { self.continuation = continuation }
    func onChange(kinds: [ChangeKind]) throws { continuation.yield(kinds) }
}
