import ImportExport
import Testing

@Suite("CSV reading")
struct CSVReaderTests {
    private func records(_ text: String) throws -> [CSVRecord] {
        let reader = CSVReader(ByteReader(bytes: Array(text.utf8)))
        var records: [CSVRecord] = []
        while let record = try reader.next() { records.append(record) }
        return records
    }

    @Test("plain fields split at commas, records at line feeds")
    func plainFields() throws {
        #expect(
            try records("a,b,c\n1,,3\n")
                == [CSVRecord(fields: ["a", "b", "c"], line: 1), CSVRecord(fields: ["1", "", "3"], line: 2)])
    }

    @Test("a quoted field keeps its commas, doubled quotes and line breaks")
    func quotedFields() throws {
        let text = "memo,x\n\"lunch, with \"\"friends\"\"\",1\n\"two\nlines\",2\n"
        #expect(
            try records(text) == [
                CSVRecord(fields: ["memo", "x"], line: 1),
                CSVRecord(fields: ["lunch, with \"friends\"", "1"], line: 2),
                CSVRecord(fields: ["two\nlines", "2"], line: 3),
            ])
    }

    @Test("a record after a quoted line break is numbered by the line it starts on")
    func lineNumbersCountPhysicalLines() throws {
        let numbers = try records("h\n\"a\n\nb\"\nnext\n").map(\.line)
        #expect(numbers == [1, 2, 5])
    }

    @Test("CRLF line ends, a byte order mark, blank lines and a missing last line feed are all fine")
    func toleratesCommonVariants() throws {
        let text = "\u{FEFF}a,b\r\n\r\n1,\"2\"\r\n\n3,4"
        #expect(
            try records(text) == [
                CSVRecord(fields: ["a", "b"], line: 1), CSVRecord(fields: ["1", "2"], line: 3),
                CSVRecord(fields: ["3", "4"], line: 5),
            ])
    }

    @Test("a quote inside an unquoted field is kept as it is")
    func strayQuoteInUnquotedField() throws {
        #expect(try records("5\" disk,x\n") == [CSVRecord(fields: ["5\" disk", "x"], line: 1)])
    }

    @Test("empty quoted fields and a trailing empty field are fields")
    func emptyFields() throws {
        #expect(try records("\"\",a,\n") == [CSVRecord(fields: ["", "a", ""], line: 1)])
    }

    /// The error that stops reading `text`, if any.
    private func failure(_ text: String) -> ImportFileError? {
        do {
            _ = try records(text)
            return nil
        } catch {
            return error as? ImportFileError
        }
    }

    @Test("a quote never closed stops the reading, naming the line it opened on")
    func unclosedQuote() {
        let error = failure("a\n1\n\"open,2\n3\n")
        #expect(error?.line == 3)
        #expect(error?.reason.contains("never closed") == true)
    }

    @Test("text after a closing quote stops the reading")
    func textAfterClosingQuote() {
        let error = failure("a,b\n\"x\"y,2\n")
        #expect(error?.line == 2)
        #expect(error?.reason.contains("written twice") == true)
    }

    @Test("bytes that are not UTF-8 stop the reading at their record")
    func notUTF8() {
        let reader = CSVReader(ByteReader(bytes: Array("a\n".utf8) + [0x66, 0xFF, 0x0A]))
        #expect(throws: ImportFileError.self) {
            while try reader.next() != nil {}
        }
    }
}
