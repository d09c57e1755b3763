import Ledger

extension ImportRow {
    /// The row that `fields` describe, checked as far as can be without the ledger: the type, the columns it needs
    /// and only those, the amount, the name and the memo by the API's own rules. Ids, types and amounts are taken
    /// without surrounding spaces; names and memos as written.
    package init(line: Int, fields: ImportFields) throws(ImportRefusal) {
        var values = ImportFields()
        for column in ImportColumn.allCases {
            guard let text = fields[column] else { continue }
            let kept = column == .name || column == .memo ? text : text.trimmingSpaces()
            if !kept.isEmpty { values[column] = kept }
        }
        guard let type = values[.type] else {
            throw .invalid(line, "the row has no type (user, transfer, deposit or withdrawal)")
        }
        guard let (required, optional) = ImportColumn.columns(of: type) else {
            throw .invalid(line, "type must be user, transfer, deposit or withdrawal, not \"\(type)\"")
        }
        let missing = required.filter { values[$0] == nil }
        guard missing.isEmpty else {
            throw .invalid(line, "a \(type) row needs \(Self.list(missing))")
        }
        let extra = ImportColumn.allCases.filter {
            $0 != .type && values[$0] != nil && !required.contains($0) && !optional.contains($0)
        }
        guard extra.isEmpty else {
            throw .invalid(
                line, "a \(type) row takes no \(Self.list(extra)) (it uses \(Self.list(required + optional)))")
        }

        if type == "user" {
            let name = values[.name]!
            do throws(TextRuleViolation) {
                try TextRules.checkName(name)
            } catch {
                throw .invalid(line, "name \(error.explanation)")
            }
            let balance = try Self.amount(values[.balance], column: "balance", line: line, allowingZero: true)
            self = .user(
                ImportUser(line: line, externalID: values[.id]!, name: name, openingBalance: balance ?? .zero))
            return
        }
        let kind = ImportMovement.Kind(rawValue: type)!
        if let from = values[.from], from == values[.to] {
            throw .invalid(line, "a transfer's from and to are the same user (\(from))")
        }
        if let memo = values[.memo] {
            do throws(TextRuleViolation) {
                try TextRules.checkMemo(memo)
            } catch {
                throw .invalid(line, "memo \(error.explanation)")
            }
        }
        let amount = try Self.amount(values[.amount], column: "amount", line: line, allowingZero: false)!
        self = .movement(
            ImportMovement(
                line: line, kind: kind, from: values[.from], to: values[.to], amount: amount, memo: values[.memo]))
    }

    private static func amount(
        _ text: String?, column: String, line: Int, allowingZero: Bool
    ) throws(ImportRefusal) -> Money? {
        guard let text else { return nil }
        let money: Money
        do throws(MoneyParseError) {
            money = try Money(parsing: text)
        } catch {
            throw .invalid(line, "\(column) \(error.explanation), not \"\(text)\"")
        }
        guard allowingZero || money > .zero else { throw .invalid(line, "\(column) must be more than 0") }
        return money
    }

    /// "from, to and amount".
    private static func list(_ columns: [ImportColumn]) -> String {
        let names = columns.map(\.rawValue)
        return names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " and " + names.last!
    }
}

extension String {
    /// Without spaces and tabs at either end.
    func trimmingSpaces() -> String {
        let bytes = utf8
        guard let first = bytes.first, let last = bytes.last,
            first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09
        else { return self }
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        guard let start = bytes.firstIndex(where: { !isSpace($0) }), let end = bytes.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(self[start...end])
    }
}
