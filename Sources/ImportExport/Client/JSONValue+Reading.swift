import API

extension JSONValue {
    /// The member `name` of an object; nil for a missing member or a value that is not an object.
    subscript(member name: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == name }?.1
    }

    /// An integer's value.
    var integerValue: Int64? {
        guard case .number(let text) = self else { return nil }
        return Int64(text)
    }

    var stringValue: String? {
        guard case .string(let text) = self else { return nil }
        return text
    }

    /// A field's text for a CSV cell: strings as they are, numbers as written, booleans as true/false, null and
    /// missing values empty.
    var cellText: String {
        switch self {
        case .string(let text), .number(let text): text
        case .bool(let value): value ? "true" : "false"
        case .null, .array, .object: ""
        }
    }
}
