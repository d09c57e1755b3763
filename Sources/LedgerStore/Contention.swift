import Glibc

/// The accounts this worker has lately seen fail to serialize. Their movements queue for per-account locks
/// before their transaction starts (see `PostgresLedger.lockedSteps`); the rest go straight in, so a load without
/// contention pays nothing for the locks. An account stays contended for `memorySeconds` after its last
/// conflict, which a hot account renews again and again.
struct Contention {
    let memorySeconds: Double
    /// At most this many accounts are remembered; the stale are forgotten first.
    let capacity: Int
    private var until: [Int64: Double] = [:]

    init(memorySeconds: Double = 30, capacity: Int = 4096) {
        self.memorySeconds = memorySeconds
        self.capacity = capacity
    }

    func isContended(_ accounts: [Int64], now: Double = Contention.now()) -> Bool {
        accounts.contains { account in until[account].map { $0 > now } ?? false }
    }

    mutating func saw(_ accounts: [Int64], now: Double = Contention.now()) {
        if until.count >= capacity { until = until.filter { $0.value > now } }
        if until.count >= capacity { until.removeAll() }
        for account in accounts where account > 0 { until[account] = now + memorySeconds }
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
