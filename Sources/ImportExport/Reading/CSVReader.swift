/// One record of a CSV file: its fields, and the line it starts on (a quoted field may span lines).
package struct CSVRecord: Equatable, Sendable {
    package let fields: [String]
    package let line: Int

    package init(fields: [String], line: Int) {
        self.fields = fields
        self.line = line
    }
}

/// CSV as RFC 4180 writes it, read record by record: fields separated by commas, records by LF or CRLF; a field
/// in double quotes may hold commas, line breaks and quotes (doubled: `"say ""hi"""`). A quote inside an unquoted
/// field is taken as it is, as most spreadsheets write it. Blank lines are skipped, and a UTF-8 byte order mark
/// at the start is dropped.
package final class CSVReader {
    private let bytes: ByteReader
    /// The line the next byte is on.
    private var line = 1
    private var isFirstRecord = true

    package init(_ bytes: ByteReader) {
        self.bytes = bytes
    }

    /// Bytes read so far.
    package var offset: Int { bytes.offset }

    /// The next record; nil at the end of the file.
    package func next() throws(ImportFileError) -> CSVRecord? {
        while true {
            guard let (fields, startLine) = try readRecord() else { return nil }
            if fields.count == 1 && fields[0].isEmpty { continue }
            var texts: [String] = []
            texts.reserveCapacity(fields.count)
            for field in fields {
                // ASCII, most fields, is UTF-8 as it is; the generic validation costs several times as much.
                if field.allSatisfy({ $0 < 0x80 }) {
                    texts.append(String(decoding: field, as: UTF8.self))
                } else if let text = String(validating: field, as: UTF8.self) {
                    texts.append(text)
                } else {
                    throw ImportFileError(line: startLine, reason: "the record is not UTF-8 text")
                }
            }
            return CSVRecord(fields: texts, line: startLine)
        }
    }

    private static let quote = UInt8(ascii: "\"")
    private static let comma = UInt8(ascii: ",")
    private static let newline = UInt8(ascii: "\n")
    private static let carriageReturn = UInt8(ascii: "\r")

    /// The raw fields of one record (one empty field for a blank line), or nil when the file has ended.
    private func readRecord() throws(ImportFileError) -> ([[UInt8]], Int)? {
        let startLine = line
        var fields: [[UInt8]] = []
        var field: [UInt8] = []
        guard var byte = try bytes.next() else { return nil }
        if isFirstRecord {
            isFirstRecord = false
            if byte == 0xEF {
                // A byte order mark: EF BB BF.
                guard try bytes.next() == 0xBB, try bytes.next() == 0xBF else {
                    throw ImportFileError(line: 1, reason: "the file is not UTF-8 text")
                }
                guard let after = try bytes.next() else { return nil }
                byte = after
            }
        }
        while true {
            if byte == Self.quote && field.isEmpty {
                try readQuoted(into: &field, startLine: startLine)
                // After the closing quote: the end of the field, of the record or of the file.
                guard var after = try bytes.next() else {
                    fields.append(field)
                    return (fields, startLine)
                }
                if after == Self.carriageReturn {
                    guard let next = try bytes.next() else {
                        fields.append(field)
                        return (fields, startLine)
                    }
                    after = next
                    guard after == Self.newline else { throw misplacedQuote(startLine) }
                }
                if after == Self.newline {
                    line += 1
                    fields.append(field)
                    return (fields, startLine)
                }
                guard after == Self.comma else { throw misplacedQuote(startLine) }
                fields.append(field)
                field = []
            } else if byte == Self.comma {
                fields.append(field)
                field = []
            } else if byte == Self.newline {
                line += 1
                if field.last == Self.carriageReturn { field.removeLast() }
                fields.append(field)
                return (fields, startLine)
            } else {
                field.append(byte)
            }
            guard let next = try bytes.next() else {
                if field.last == Self.carriageReturn { field.removeLast() }
                fields.append(field)
                return (fields, startLine)
            }
            byte = next
        }
    }

    /// A quoted field's content, after its opening quote, up to and without its closing quote.
    private func readQuoted(into field: inout [UInt8], startLine: Int) throws(ImportFileError) {
        while let byte = try bytes.next() {
            if byte == Self.quote {
                // Either a doubled quote (one quote in the text) or the closing one.
                guard let next = try bytes.peek() else { return }
                if next == Self.quote {
                    _ = try bytes.next()
                    field.append(Self.quote)
                } else {
                    return
                }
            } else {
                if byte == Self.newline { line += 1 }
                field.append(byte)
            }
        }
        throw ImportFileError(
            line: startLine, reason: "a quoted field starts on this line and is never closed (a quote is missing)")
    }

    private func misplacedQuote(_ line: Int) -> ImportFileError {
        ImportFileError(
            line: line,
            reason: "a quoted field must end at its closing quote; a quote inside one is written twice (\"\")")
    }
}
