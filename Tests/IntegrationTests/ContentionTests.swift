import Testing

@testable import LedgerStore

@Suite("Which accounts a worker treats as contended")
struct ContentionTests {
    @Test("an account is contended for a while after it failed to serialize, then no more")
    func remembersForAWhile() {
        var contention = Contention(memorySeconds: 30)
        #expect(!contention.isContended([7, 8], now: 100))
        contention.saw([7, 8], now: 100)
        #expect(contention.isContended([1, 7], now: 110))
        #expect(contention.isContended([8], now: 129))
        #expect(!contention.isContended([7, 8], now: 131))
        #expect(!contention.isContended([1, 2], now: 110))
    }

    @Test("the outside world (account 0) is never contended; a full memory forgets the stale first")
    func boundedMemory() {
        var contention = Contention(memorySeconds: 30, capacity: 2)
        contention.saw([0, 5], now: 0)
        #expect(!contention.isContended([0], now: 1))
        contention.saw([6], now: 1)
        contention.saw([7], now: 40)  // full: 5 and 6 are stale by now
        #expect(contention.isContended([7], now: 41))
        #expect(!contention.isContended([5, 6], now: 41))
    }
}
