/// A sum of amounts, kept exact: each balance may reach `Int64.max` minor units, so two of them together
/// already exceed what one `Money` holds. 128 bits hold the sum of 2^64 such amounts.
package struct MoneyTotal: Hashable, Comparable, Sendable {
    package let minorUnits: Int128

    package init(minorUnits: Int128) {
        self.minorUnits = minorUnits
    }

    package init(_ money: Money) {
        self.init(minorUnits: Int128(money.minorUnits))
    }

    /// Reads an integer count of minor units written in decimal, as PostgreSQL prints a `numeric` sum
    /// ("-12", "92233720368547758070"); nil for anything else.
    package init?(minorUnitsText text: some StringProtocol) {
        guard let value = Int128(text) else { return nil }
        self.init(minorUnits: value)
    }

    package static let zero = MoneyTotal(minorUnits: 0)

    package static func < (lhs: MoneyTotal, rhs: MoneyTotal) -> Bool {
        lhs.minorUnits < rhs.minorUnits
    }

    package static func + (lhs: MoneyTotal, rhs: Money) -> MoneyTotal {
        MoneyTotal(minorUnits: lhs.minorUnits + Int128(rhs.minorUnits))
    }
}

extension MoneyTotal: CustomStringConvertible {
    /// The same form as `Money`'s: "12.34", "0.05", "-1.00", however many digits the total has.
    package var description: String {
        var digits = String(minorUnits.magnitude)
        if digits.count < 3 { digits = String(repeating: "0", count: 3 - digits.count) + digits }
        digits.insert(".", at: digits.index(digits.endIndex, offsetBy: -2))
        return minorUnits < 0 ? "-" + digits : digits
    }
}
