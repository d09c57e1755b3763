/// An exact amount of money: a count of minor units (cents), as PostgreSQL stores it (bigint).
package struct Money: Hashable, Comparable, Sendable {
    package let minorUnits: Int64

    package init(minorUnits: Int64) {
        self.minorUnits = minorUnits
    }

    package static let zero = Money(minorUnits: 0)
    /// Minor units in one major unit: two fraction digits.
    package static let minorUnitsPerMajor: Int64 = 100

    package static func < (lhs: Money, rhs: Money) -> Bool {
        lhs.minorUnits < rhs.minorUnits
    }
}

extension Money: CustomStringConvertible {
    /// "12.34", "0.05", "-1.00": always two fraction digits, no grouping.
    ///
    /// Written digit by digit from the right into the string's own storage: every amount in every response
    /// goes through here, and string interpolation cost several times as much.
    package var description: String {
        let magnitude = minorUnits.magnitude
        var majorDigits = 1
        var rest = magnitude / 1000
        while rest > 0 {
            majorDigits += 1
            rest /= 10
        }
        let length = (minorUnits < 0 ? 1 : 0) + majorDigits + 3
        // At most 21 bytes: Int64.min is a sign, 17 digits, a point and 2 digits.
        return String(unsafeUninitializedCapacity: length) { buffer in
            var position = length
            var value = magnitude
            for place in 0..<(majorDigits + 2) {
                if place == 2 {
                    position -= 1
                    buffer[position] = UInt8(ascii: ".")
                }
                position -= 1
                buffer[position] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
            }
            if minorUnits < 0 { buffer[0] = UInt8(ascii: "-") }
            return length
        }
    }
}
