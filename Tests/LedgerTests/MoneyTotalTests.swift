import Ledger
import Testing

@Suite("Sums of money beyond one balance's range")
struct MoneyTotalTests {
    @Test(
        "a total prints like an amount, however many digits it has",
        arguments: [
            ("0", "0.00"), ("5", "0.05"), ("-1", "-0.01"), ("-100", "-1.00"), ("123456", "1234.56"),
            ("9223372036854775807", "92233720368547758.07"),
            ("18446744073709551614", "184467440737095516.14"),
            ("-18446744073709551614", "-184467440737095516.14"),
        ])
    func printsLikeAnAmount(minorUnits: String, text: String) throws {
        let total = try #require(MoneyTotal(minorUnitsText: minorUnits))
        #expect(total.description == text)
        #expect(String(total.minorUnits) == minorUnits)
    }

    @Test("two balances at the largest value add up exactly, with no overflow")
    func largestBalancesAddUpExactly() {
        let largest = Money(minorUnits: .max)
        let total = MoneyTotal(largest) + largest + Money(minorUnits: 1)
        #expect(total.minorUnits == 2 * Int128(Int64.max) + 1)
        #expect(total.description == "184467440737095516.15")
        #expect(total > MoneyTotal(largest))
    }

    @Test("only a decimal integer is read as a count of minor units", arguments: ["", "1.5", "x", "1e3", " 1"])
    func readsOnlyIntegers(text: String) {
        #expect(MoneyTotal(minorUnitsText: text) == nil)
    }
}
