import Ledger
import Testing

@Suite("Money parsing and formatting")
struct MoneyParsingTests {
    @Test(
        "exact amounts parse to minor units",
        arguments: [
            ("0", 0), ("0.01", 1), ("0.1", 10), ("0.29", 29), ("1.001".dropLast(), 100), ("12.34", 1234),
            ("100", 10_000), ("007.50", 750), ("92233720368547758.07", Int64.max),
        ] as [(Substring, Int64)])
    func parsesExactly(text: Substring, minorUnits: Int64) throws {
        #expect(try Money(parsing: text).minorUnits == minorUnits)
    }

    @Test(
        "every bad form is refused with its reason",
        arguments: [
            ("", MoneyParseError.empty),
            ("abc", .notANumber), ("12.", .notANumber), (".5", .notANumber), ("+5", .notANumber),
            (" 5", .notANumber), ("5 ", .notANumber), ("1,000.00", .notANumber), ("0x10", .notANumber),
            ("NaN", .notANumber), ("Infinity", .notANumber), ("1.2.3", .notANumber), ("-abc", .notANumber),
            ("-1", .negative), ("-0.01", .negative), ("-0", .negative),
            ("1e2", .exponentForm), ("1E2", .exponentForm), ("1.5e-3", .exponentForm), ("-1e2", .exponentForm),
            ("1.001", .tooManyFractionDigits), ("0.290", .tooManyFractionDigits), ("1.999999", .tooManyFractionDigits),
            ("92233720368547758.08", .outOfRange), ("99999999999999999999", .outOfRange),
        ] as [(String, MoneyParseError)])
    func refusesBadForms(text: String, reason: MoneyParseError) {
        #expect(throws: reason) { try Money(parsing: text) }
    }

    @Test("formatting always shows two fraction digits")
    func formatsWithTwoDigits() {
        #expect(Money(minorUnits: 0).description == "0.00")
        #expect(Money(minorUnits: 5).description == "0.05")
        #expect(Money(minorUnits: 1234).description == "12.34")
        #expect(Money(minorUnits: -100).description == "-1.00")
        #expect(Money(minorUnits: -5).description == "-0.05")
        #expect(Money(minorUnits: 99).description == "0.99")
        #expect(Money(minorUnits: 1000).description == "10.00")
        #expect(Money(minorUnits: 123_456_789).description == "1234567.89")
        // Every length of the whole part, each a power of ten and one below it.
        var power: Int64 = 1
        for digits in 1...17 {
            let zeros = String(repeating: "0", count: digits - 1)
            let nines = digits == 1 ? "0" : String(repeating: "9", count: digits - 1)
            #expect(Money(minorUnits: power * 100).description == "1\(zeros).00")
            #expect(Money(minorUnits: power * 100 - 1).description == "\(nines).99")
            if digits < 17 { power *= 10 }
        }
        #expect(Money(minorUnits: Int64.max).description == "92233720368547758.07")
        #expect(Money(minorUnits: Int64.min).description == "-92233720368547758.08")
    }

    @Test("formatting and parsing round-trip")
    func roundTrips() throws {
        for units: Int64 in [0, 1, 9, 10, 99, 100, 101, 123_456_789, Int64.max] {
            #expect(try Money(parsing: Money(minorUnits: units).description).minorUnits == units)
        }
    }
}
