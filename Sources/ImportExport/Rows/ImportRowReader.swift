import API

/// The rows of an import file, one at a time, in either format. A row that does not read is handed out as its
/// refusal and the reading goes on; a file that cannot be read on (broken CSV, a header naming an unknown
/// column) throws.
package final class ImportRowReader {
    private let format: ImportFormat
    private let bytes: ByteReader
    private lazy var csv = CSVReader(bytes)
    /// The CSV header's column names, in order; read with the first record.
    private var header: [String]?
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

    private func nextCSV() throws(ImportFileError) -> Result<ImportRow, ImportRefusal>? {
        if header == nil {
            guard let first = try csv.next() else {
                throw ImportFileError(line: nil, reason: "the file is empty: a CSV import starts with a header row")
            }
            header = try Self.checkedHeader(first)
        }
        guard let record = try csv.next(), let header else { return nil }
        guard record.fields.count == header.count else {
            return .failure(
                .invalid(record.line, "the row has \(record.fields.count) fields, the header \(header.count)"))
        }
        return Result { () throws(ImportRefusal) in
            try ImportRow(line: record.line, fields: Dictionary(uniqueKeysWithValues: zip(header, record.fields)))
        }
    }

    /// The header's names in lower case; every one known, none twice, `type` among them.
    private static func checkedHeader(_ record: CSVRecord) throws(ImportFileError) -> [String] {
        let names = record.fields.map { $0.trimmingSpaces().lowercased() }
        for (position, name) in names.enumerated() {
            guard ImportColumns.all.contains(name) else {
                throw ImportFileError(
                    line: record.line,
                    reason: "the header's column \"\(name)\" is not one of \(ImportColumns.all.joined(separator: ", "))"
                )
            }
            guard !names[..<position].contains(name) else {
                throw ImportFileError(line: record.line, reason: "the header names the column \"\(name)\" twice")
            }
        }
        guard names.contains("type") else {
            throw ImportFileError(line: record.line, reason: "the header has no \"type\" column")
        }
        return names
    }

    private func nextNDJSON() throws(ImportFileError) -> Result<ImportRow, ImportRefusal>? {
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
            if text.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: "\r") }) {
                continue
            }
            return Result { () throws(ImportRefusal) in try Self.row(json: text, line: lineNumber) }
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
        var fields: [String: String] = [:]
        for (name, member) in members {
            guard ImportColumns.all.contains(name) else {
                throw .invalid(
                    line, "unknown field \"\(name)\" (the fields are \(ImportColumns.all.joined(separator: ", ")))")
            }
            guard fields[name] == nil else { throw .invalid(line, "the field \"\(name)\" appears twice") }
            switch member {
            case .string(let text), .number(let text): fields[name] = text
            case .null: fields[name] = ""
            default: throw .invalid(line, "\(name) must be a string, a number or null")
            }
        }
        return try ImportRow(line: line, fields: fields)
    }
}
