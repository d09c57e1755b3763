/// CSV lines as RFC 4180 writes them, read back by CSVReader and any spreadsheet: a field holding a comma, a
/// quote or a line break is quoted, its quotes doubled.
package enum CSVWriter {
    /// One record, ending in a line feed.
    package static func line(_ fields: [String]) -> String {
        fields.map(quoted).joined(separator: ",") + "\n"
    }

    static func quoted(_ field: String) -> String {
        guard field.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) else {
            return field
        }
        var text = "\""
        for character in field.unicodeScalars {
            if character == "\"" { text += "\"\"" } else { text.unicodeScalars.append(character) }
        }
        return text + "\""
    }
}
