import Glibc

/// CLOCK_MONOTONIC: the one clock of every timer and duration in Tally (request durations, the ledger's
/// contention and purge timers, the supervisor's deadlines). Its readings are comparable across the pool's
/// processes, which the scoreboard relies on; it never jumps with the wall clock.
package enum MonotonicClock {
    package static func seconds() -> Double {
        let time = now()
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    package static func microseconds() -> Int64 {
        let time = now()
        return Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1000
    }

    package static func nanoseconds() -> Int64 {
        let time = now()
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    private static func now() -> timespec {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return time
    }
}
