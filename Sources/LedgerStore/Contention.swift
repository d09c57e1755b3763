import SystemSupport

/// The accounts this worker has lately seen fail to serialize more than once. Their movements queue for
/// per-account locks before their transaction starts (see `PostgresLedger.lockedSteps`); the rest go straight
/// in, so a load without contention pays nothing for the locks. One conflict is not enough: under a uniform
/// load now and then two random transfers meet once, and their accounts are no hotter for it; a hot account
/// conflicts again within moments. An account stays contended for `memorySeconds` after its last conflict.
struct Contention {
    let memorySeconds: Double
    /// Conflicts within `memorySeconds` of each other that make an account contended.
    let conflictsToLock: Int
    /// At most this many accounts are remembered; the stale are forgotten first.
    let capacity: Int

    private struct Memory {
        var conflicts: Int
        var until: Double
    }
    private var accounts: [Int64: Memory] = [:]

    init(memorySeconds: Double = 30, conflictsToLock: Int = 2, capacity: Int = 4096) {
        self.memorySeconds = memorySeconds
        self.conflictsToLock = conflictsToLock
        self.capacity = capacity
    }

    func isContended(_ ids: [Int64], now: Double = MonotonicClock.seconds()) -> Bool {
        ids.contains { id in
            guard let memory = accounts[id] else { return false }
            return memory.until > now && memory.conflicts >= conflictsToLock
        }
    }

    /// A movement of `ids` failed to serialize.
    mutating func saw(_ ids: [Int64], now: Double = MonotonicClock.seconds()) {
        if accounts.count >= capacity { accounts = accounts.filter { $0.value.until > now } }
        if accounts.count >= capacity { accounts.removeAll() }
        for id in ids where id > 0 {
            let earlier = accounts[id].flatMap { $0.until > now ? $0.conflicts : nil } ?? 0
            accounts[id] = Memory(conflicts: earlier + 1, until: now + memorySeconds)
        }
    }

    /// A movement of `ids` waited for their rows until its lock timeout: another transaction holds them for long
    /// (a batch, say), which one conflict is enough to tell. They are contended at once.
    mutating func sawHeld(_ ids: [Int64], now: Double = MonotonicClock.seconds()) {
        for _ in 0..<conflictsToLock { saw(ids, now: now) }
    }
}
