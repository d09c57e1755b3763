/// An exact amount of money: a count of minor units (cents), as PostgreSQL stores it (bigint).
public struct Money: Hashable, Comparable, Sendable {
    public let minorUnits: Int64

    public init(minorUnits: Int64) {
        self.minorUnits = minorUnits
    }

    public static let zero = Money(minorUnits: 0)
    /// Minor units in one major unit: two fraction digits.
    public static let minorUnitsPerMajor: Int64 = 100

    public static func < (lhs: Money, rhs: Money) -> Bool {
        lhs.minorUnits < rhs.minorUnits
    }
}

extension Money: CustomStringConvertible {
    /// "12.34", "0.05", "-1.00": always two fraction digits, no grouping.
    public var description: String {
        let magnitude = minorUnits.magnitude
        let major = magnitude / UInt64(Money.minorUnitsPerMajor)
        let minor = magnitude % UInt64(Money.minorUnitsPerMajor)
        let sign = minorUnits < 0 ? "-" : ""
        return "\(sign)\(major).\(minor < 10 ? "0" : "")\(minor)"
    }
}
