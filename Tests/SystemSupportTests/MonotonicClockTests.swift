import SystemSupport
import Testing

@Suite("The monotonic clock")
struct MonotonicClockTests {
    @Test("readings never go back, and the units agree")
    func readingsAgree() {
        let seconds = MonotonicClock.seconds()
        let microseconds = MonotonicClock.microseconds()
        let nanoseconds = MonotonicClock.nanoseconds()
        #expect(microseconds >= Int64(seconds * 1_000_000) - 1)
        #expect(nanoseconds / 1000 >= microseconds)
        #expect(MonotonicClock.seconds() >= seconds)
    }
}
