/// Why a username or password is refused.
package enum AccountRuleViolation: Error, CustomStringConvertible, Equatable, Sendable {
    case usernameLength
    case usernameCharacters
    case passwordLength
    case passwordContainsNUL

    package var explanation: String {
        switch self {
        case .usernameLength:
            "must be \(AccountRules.usernameLengths.lowerBound) to \(AccountRules.usernameLengths.upperBound) characters"
        case .usernameCharacters: "may hold only letters a-z and A-Z, digits and . _ -"
        case .passwordLength:
            "must be \(AccountRules.passwordLengths.lowerBound) to \(AccountRules.passwordLengths.upperBound) characters"
        case .passwordContainsNUL: "must not contain the NUL character"
        }
    }

    package var description: String {
        switch self {
        case .usernameLength, .usernameCharacters: "the username \(explanation)"
        case .passwordLength, .passwordContainsNUL: "the password \(explanation)"
        }
    }
}

/// The rules for log-in credentials.
package enum AccountRules {
    package static let usernameLengths = 3...64
    package static let passwordLengths = 10...256

    /// Usernames are ASCII so that "unique, ignoring case" means one thing everywhere.
    package static func checkUsername(_ username: String) throws(AccountRuleViolation) {
        guard usernameLengths.contains(username.utf8.count) else { throw .usernameLength }
        let allowed = username.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
        guard allowed else { throw .usernameCharacters }
    }

    package static func checkPassword(_ password: String) throws(AccountRuleViolation) {
        guard passwordLengths.contains(password.count) else { throw .passwordLength }
        guard !password.utf8.contains(0) else { throw .passwordContainsNUL }
    }
}
