import Testing

@testable import LedgerStore

@Suite("Which accounts a worker treats as contended")
struct ContentionTests {
    @Test("an account is contended from its second conflict for a while after the last one, then no more")
    func remembersForAWhile() {
        var contention = Contention(memorySeconds: 30)
        #expect(!contention.isContended([7, 8], now: 100))
        contention.saw([7, 8], now: 100)
        #expect(!contention.isContended([7, 8], now: 101))
        contention.saw([7], now: 105)
        #expect(contention.isContended([1, 7], now: 110))
        #expect(!contention.isContended([8], now: 110))
        #expect(contention.isContended([7], now: 134))
        #expect(!contention.isContended([7], now: 136))
        #expect(!contention.isContended([1, 2], now: 110))
    }

    @Test("conflicts further apart than the memory do not add up")
    func conflictsFarApartDoNotCount() {
        var contention = Contention(memorySeconds: 30)
        contention.saw([5], now: 0)
        contention.saw([5], now: 31)
        #expect(!contention.isContended([5], now: 32))
        contention.saw([5], now: 40)
        #expect(contention.isContended([5], now: 41))
    }

    @Test("the outside world (account 0) is never contended; a full memory forgets the stale first")
    func boundedMemory() {
        var contention = Contention(memorySeconds: 30, conflictsToLock: 1, capacity: 2)
        contention.saw([0, 5], now: 0)
        #expect(!contention.isContended([0], now: 1))
        contention.saw([6], now: 1)
        contention.saw([7], now: 40)  // full: 5 and 6 are stale by now
        #expect(contention.isContended([7], now: 41))
        #expect(!contention.isContended([5, 6], now: 41))
    }
}
