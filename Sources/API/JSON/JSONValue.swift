/// A JSON value. Numbers keep their text, so that amounts are read exactly and forms such as
/// exponents can be told apart; objects keep their members in order.
package enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    package static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a.map(\.0) == b.map(\.0) && a.map(\.1) == b.map(\.1)
        default: false
        }
    }

    /// A name for the value's type, for error messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// An integer JSON value.
    static func integer(_ value: Int64) -> JSONValue { .number(String(value)) }
    static func integer(_ value: Int) -> JSONValue { .number(String(value)) }
    /// A string, or null when there is none.
    static func optionalString(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
}
