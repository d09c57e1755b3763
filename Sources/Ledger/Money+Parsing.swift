/// Why a text is not an amount of money.
package enum MoneyParseError: Error, CustomStringConvertible, Equatable, Sendable {
    case empty
    case notANumber
    case negative
    case exponentForm
    case tooManyFractionDigits
    case outOfRange

    /// A sentence a person can act on.
    package var explanation: String {
        switch self {
        case .empty: "must not be empty"
        case .notANumber: "must be a decimal number such as \"12.34\""
        case .negative: "must not be negative"
        case .exponentForm: "must be written without an exponent, such as \"1200.00\""
        case .tooManyFractionDigits: "must have at most 2 digits after the decimal point"
        case .outOfRange: "is too large (at most 92233720368547758.07)"
        }
    }

    package var description: String { "an amount \(explanation)" }
}

extension Money {
    /// Parses a decimal amount exactly from its text: digits, optionally a point and one or two digits.
    /// The same grammar serves JSON numbers and JSON strings; no binary floating point is involved.
    package init(parsing text: some StringProtocol) throws(MoneyParseError) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw .empty }
        if bytes.contains(where: { $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }),
            bytes.allSatisfy({ Self.isNumberCharacter($0) })
        {
            throw .exponentForm
        }
        var index = 0
        if bytes[0] == UInt8(ascii: "-") {
            // "-0", "-0.00" are still negative in form: a movement is never signed.
            let rest = bytes.dropFirst()
            guard !rest.isEmpty, rest.allSatisfy({ Self.isDigit($0) || $0 == UInt8(ascii: ".") }) else {
                throw .notANumber
            }
            throw .negative
        }
        var major: Int64 = 0
        var majorDigits = 0
        while index < bytes.count, Self.isDigit(bytes[index]) {
            let (times10, overflow1) = major.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int64(bytes[index] - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw .outOfRange }
            major = sum
            majorDigits += 1
            index += 1
        }
        guard majorDigits > 0 else { throw .notANumber }
        var minor: Int64 = 0
        var fractionDigits = 0
        if index < bytes.count {
            guard bytes[index] == UInt8(ascii: ".") else { throw .notANumber }
            index += 1
            let fractionStart = index
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
            fractionDigits = index - fractionStart
            guard fractionDigits > 0, index == bytes.count else { throw .notANumber }
            guard fractionDigits <= 2 else { throw .tooManyFractionDigits }
            for digit in bytes[fractionStart..<index] { minor = minor * 10 + Int64(digit - UInt8(ascii: "0")) }
            if fractionDigits == 1 { minor *= 10 }
        }
        let (scaled, overflow1) = major.multipliedReportingOverflow(by: Money.minorUnitsPerMajor)
        let (total, overflow2) = scaled.addingReportingOverflow(minor)
        guard !overflow1, !overflow2 else { throw .outOfRange }
        self.init(minorUnits: total)
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func isNumberCharacter(_ byte: UInt8) -> Bool {
        isDigit(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
            || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
    }
}
