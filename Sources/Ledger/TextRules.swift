/// Why a piece of free text (a name, a memo) is refused.
package enum TextRuleViolation: Error, CustomStringConvertible, Equatable, Sendable {
    case empty
    case tooLong(maximum: Int)
    case containsNUL

    package var explanation: String {
        switch self {
        case .empty: "must not be empty or only spaces"
        case .tooLong(let maximum): "must be at most \(maximum) characters (Unicode code points: a flag counts two)"
        case .containsNUL: "must not contain the NUL character (\\u0000)"
        }
    }

    package var description: String { "the text \(explanation)" }
}

/// The rules for the text people type: user names and memos. Text is stored verbatim, never trimmed. Lengths
/// are in Unicode code points.
package enum TextRules {
    package static let maximumNameLength = 200
    package static let maximumMemoLength = 500

    package static func checkName(_ name: String) throws(TextRuleViolation) {
        guard !name.allSatisfy(\.isWhitespace) else { throw .empty }
        try checkCommon(name, maximum: maximumNameLength)
    }

    /// A memo may be empty; it is optional anyway.
    package static func checkMemo(_ memo: String) throws(TextRuleViolation) {
        try checkCommon(memo, maximum: maximumMemoLength)
    }

    private static func checkCommon(_ text: String, maximum: Int) throws(TextRuleViolation) {
        // PostgreSQL's text cannot hold NUL: refuse it here with a reason rather than fail in the database.
        guard !text.utf8.contains(0) else { throw .containsNUL }
        // Characters are Unicode code points, as PostgreSQL's char_length counts them (the domains' CHECKs):
        // a flag or an e with a combining accent is one Character in Swift but two code points.
        guard text.unicodeScalars.count <= maximum else { throw .tooLong(maximum: maximum) }
    }
}
