import API

/// The rows of an import file, one at a time, in either format. A row that does not read is handed out as its
/// refusal and the reading goes on; a file that cannot be read on (broken CSV, a header naming an unknown
/// column) throws.
package final class ImportRowReader {
    private let format: ImportFormat
    private let bytes: ByteReader
    private lazy var csv = CSVReader(bytes)
    /// The CSV header's columns, in order; read with the first record.
    private var header: [ImportColumn]?
    private var line = 1

    package init(format: ImportFormat, bytes: ByteReader) {
        self.format = format
        self.bytes = bytes
    }

    /// Bytes of the file read so far.
    package var offset: Int { bytes.offset }

    /// The next row, or the reason it was refused; nil at the end of the file.
    package func next() throws(ImportFileError) -> Result<ImportRow, ImportRefusal>? {
        switch format {
        case .csv: try nextCSV()
        case .ndjson: try nextNDJSON()
        }
    }

    /// Goes past the next row without making it (the first pass, which counts the rows and checks that the file
    /// reads); false at the end of the file.
    package func skip() throws(ImportFileError) -> Bool {
        switch format {
        case .csv:
            try readHeader()
            return try csv.next() != nil
        case .ndjson:
            return try nextLine() != nil
        }
    }

    private func readHeader() throws(ImportFileError) {
        guard header == nil else { return }
        guard let first = try csv.next() else {
            throw ImportFileError(line: nil, reason: "the file is empty: a CSV import starts with a header row")
        }
        header = try Self.checkedHeader(first)
    }

    private func nextCSV() throws(ImportFileError) -> Result<ImportRow, ImportRefusal>? {
        try readHeader()
        guard let record = try csv.next(), let header else { return nil }
        guard record.fields.count == header.count else {
            return .failure(
                .invalid(record.line, "the row has \(record.fields.count) fields, the header \(header.count)"))
        }
        var fields = ImportFields()
        for (column, text) in zip(header, record.fields) { fields[column] = text }
        return Result { () throws(ImportRefusal) in try ImportRow(line: record.line, fields: fields) }
    }

    /// The header's columns (names in any case); every one known, none twice, `type` among them.
    private static func checkedHeader(_ record: CSVRecord) throws(ImportFileError) -> [ImportColumn] {
        var columns: [ImportColumn] = []
        for field in record.fields {
            let name = field.trimmingSpaces().lowercased()
            guard let column = ImportColumn(rawValue: name) else {
                throw ImportFileError(
                    line: record.line, reason: "the header's column \"\(name)\" is not one of \(ImportColumn.names)")
            }
            guard !columns.contains(column) else {
                throw ImportFileError(line: record.line, reason: "the header names the column \"\(name)\" twice")
            }
            columns.append(column)
        }
        guard columns.contains(.type) else {
            throw ImportFileError(line: record.line, reason: "the header has no \"type\" column")
        }
        return columns
    }

    private func nextNDJSON() throws(ImportFileError) -> Result<ImportRow, ImportRefusal>? {
        guard let (text, lineNumber) = try nextLine() else { return nil }
        return Result { () throws(ImportRefusal) in try Self.row(json: text, line: lineNumber) }
    }

    /// The next line that is not blank, with its number; nil at the end of the file.
    private func nextLine() throws(ImportFileError) -> ([UInt8], Int)? {
        while true {
            let lineNumber = line
            var text: [UInt8] = []
            var sawEnd = false
            while let byte = try bytes.next() {
                if byte == UInt8(ascii: "\n") {
                    sawEnd = true
                    break
                }
                text.append(byte)
            }
            if !sawEnd && text.isEmpty { return nil }
            line += 1
            if !text.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }) {
                return (text, lineNumber)
            }
        }
    }

    /// The row one NDJSON line holds: an object whose members are columns, each a string, a number or null.
    private static func row(json: [UInt8], line: Int) throws(ImportRefusal) -> ImportRow {
        let value: JSONValue
        do throws(JSONSyntaxError) {
            value = try JSONParser.parse(json)
        } catch {
            throw .invalid(line, "the line is not JSON: \(error)")
        }
        guard case .object(let members) = value else { throw .invalid(line, "the line is not a JSON object") }
        var fields = ImportFields()
        var seen: [ImportColumn] = []
        for (name, member) in members {
            guard let column = ImportColumn(rawValue: name) else {
                throw .invalid(line, "unknown field \"\(name)\" (the fields are \(ImportColumn.names))")
            }
            guard !seen.contains(column) else { throw .invalid(line, "the field \"\(name)\" appears twice") }
            seen.append(column)
            switch member {
            case .string(let text), .number(let text): fields[column] = text
            case .null: fields[column] = nil
            default: throw .invalid(line, "\(name) must be a string, a number or null")
            }
        }
        return try ImportRow(line: line, fields: fields)
    }
}
