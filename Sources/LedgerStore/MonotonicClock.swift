import Glibc

/// CLOCK_MONOTONIC in seconds: the clock of the ledger's timers (contended accounts, the key purge's turns)
/// and of the worker's request durations.
public enum MonotonicClock {
    public static func seconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
