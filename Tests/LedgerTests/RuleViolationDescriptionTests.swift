import Ledger
import Testing

@Suite("Rule violations in words")
struct RuleViolationDescriptionTests {
    @Test("a violation names what it is about, then the rule")
    func violationsNameTheirSubject() {
        #expect("\(AccountRuleViolation.usernameLength)" == "the username must be 3 to 64 characters")
        #expect("\(AccountRuleViolation.passwordContainsNUL)" == "the password must not contain the NUL character")
        #expect("\(TextRuleViolation.empty)" == "the text must not be empty or only spaces")
        #expect("\(MoneyParseError.negative)" == "an amount must not be negative")
    }
}
