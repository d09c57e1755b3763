import Ledger

/// The members of a JSON request object, read field by field with a clear error for each wrong one.
/// Call `finish()` last: a member nobody read is an unknown field.
struct RequestBody {
    private var members: [String: JSONValue] = [:]
    private var unread: [String] = []

    init(_ bytes: [UInt8]) throws(APIError) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(bytes)
        } catch {
            throw .malformedJSON("\(error)")
        }
        guard case .object(let pairs) = value else {
            throw .malformedJSON("expected an object, found \(value.typeName)")
        }
        try self.init(members: pairs)
    }

    /// A body that may be left out (POST /api/holds/{id}/capture, .../void, /api/transfers/{id}/reversals): no
    /// bytes, or only whitespace, read as `{}`.
    init(optional bytes: [UInt8]) throws(APIError) {
        if bytes.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) {
            try self.init(members: [])
        } else {
            try self.init(bytes)
        }
    }

    /// The members of an object already parsed (an item of a batch).
    init(members pairs: [(String, JSONValue)]) throws(APIError) {
        members.reserveCapacity(pairs.count)
        unread.reserveCapacity(pairs.count)
        for (name, member) in pairs {
            guard members[name] == nil else { throw .validation(name, "\(name) is given more than once.") }
            members[name] = member
            unread.append(name)
        }
    }

    private mutating func take(_ name: String) -> JSONValue? {
        unread.removeAll { $0 == name }
        guard let value = members[name], value != .null else { return nil }
        return value
    }

    /// A positive 64-bit integer id.
    mutating func id(_ name: String) throws(APIError) -> Int64 {
        guard let value = take(name) else { throw .validation(name, "\(name) is required.") }
        guard case .number(let text) = value, let id = Int64(text), id > 0 else {
            throw .validation(
                name, "\(name) must be a positive integer id, not \(value.typeName) \(value.serialized()).")
        }
        return id
    }

    /// A whole number of seconds, 0 or more (an event's t); nil when absent.
    mutating func seconds(_ name: String) throws(APIError) -> Int64? {
        guard let value = take(name) else { return nil }
        guard case .number(let text) = value, let seconds = Int64(text), seconds >= 0 else {
            throw .validation(
                name,
                "\(name) must be a whole number of seconds, 0 or more, not \(value.typeName) \(value.serialized()).")
        }
        return seconds
    }

    /// An amount of money, from a JSON string ("12.34") or a JSON number (12.34), read exactly.
    mutating func amount(_ name: String, allowingZero: Bool = false) throws(APIError) -> Money? {
        guard let value = take(name) else { return nil }
        let text: String
        switch value {
        case .string(let string): text = string
        case .number(let number): text = number
        default: throw .validation(name, "\(name) must be a decimal string such as \"12.34\", not \(value.typeName).")
        }
        let money: Money
        do {
            money = try Money(parsing: text)
        } catch {
            throw .validation(name, "\(name) \(error.explanation).")
        }
        guard allowingZero || money > .zero else { throw .validation(name, "\(name) must be more than 0.00.") }
        return money
    }

    /// An amount that may be given as null to remove it (PATCH /api/users/{id}'s `daily_debit_limit`): nil when
    /// absent, `.some(nil)` for null.
    mutating func nullableAmount(_ name: String, allowingZero: Bool = false) throws(APIError) -> Money?? {
        guard let value = members[name] else { return nil }
        guard value != .null else {
            unread.removeAll { $0 == name }
            return .some(nil)
        }
        return .some(try amount(name, allowingZero: allowingZero))
    }

    /// A whole number of seconds written as a JSON integer, within `range`; nil when absent.
    mutating func integer(_ name: String, in range: ClosedRange<Int>, unit: String) throws(APIError) -> Int? {
        guard let value = take(name) else { return nil }
        guard case .number(let text) = value, let number = Int(text), range.contains(number) else {
            throw .validation(
                name,
                "\(name) must be a whole number of \(unit) from \(range.lowerBound) to \(range.upperBound), not "
                    + "\(value.typeName) \(value.serialized()).")
        }
        return number
    }

    mutating func requiredAmount(_ name: String) throws(APIError) -> Money {
        guard let money = try amount(name) else { throw .validation(name, "\(name) is required.") }
        return money
    }

    /// true or false; nil when absent.
    mutating func bool(_ name: String) throws(APIError) -> Bool? {
        guard let value = take(name) else { return nil }
        guard case .bool(let flag) = value else {
            throw .validation(name, "\(name) must be true or false, not \(value.typeName).")
        }
        return flag
    }

    /// A JSON array; nil when absent.
    mutating func array(_ name: String) throws(APIError) -> [JSONValue]? {
        guard let value = take(name) else { return nil }
        guard case .array(let elements) = value else {
            throw .validation(name, "\(name) must be an array, not \(value.typeName).")
        }
        return elements
    }

    mutating func string(_ name: String) throws(APIError) -> String? {
        guard let value = take(name) else { return nil }
        guard case .string(let text) = value else {
            throw .validation(name, "\(name) must be a string, not \(value.typeName).")
        }
        return text
    }

    /// A string that is refused, not taken as absent, when given as null: nil when absent, `.some(nil)` for null.
    mutating func nullableString(_ name: String) throws(APIError) -> String?? {
        guard let value = members[name] else { return nil }
        guard value != .null else {
            unread.removeAll { $0 == name }
            return .some(nil)
        }
        return .some(try string(name))
    }

    mutating func requiredString(_ name: String) throws(APIError) -> String {
        guard let text = try string(name) else { throw .validation(name, "\(name) is required.") }
        return text
    }

    /// Ends reading: refuses any member that is not part of the request.
    func finish() throws(APIError) {
        if let unknown = unread.first {
            throw .validation(unknown, "\(unknown) is not a field of this request.")
        }
    }
}
