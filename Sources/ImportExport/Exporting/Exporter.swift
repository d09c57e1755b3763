import API
import HTTPClient

/// Why an export stopped: Tally did not answer as it should, or the output could not be written.
package enum ExportError: Error, CustomStringConvertible {
    case client(ClientFailure)
    case output(String)

    package var description: String {
        switch self {
        case .client(let failure): failure.message
        case .output(let reason): reason
        }
    }
}

/// Writes a history as CSV: the header row, then every movement, page after page (100 a page, following
/// `next_cursor` to the end).
package struct Exporter<Transport: HTTPTransport> {
    private let client: TallyClient<Transport>

    package init(client: TallyClient<Transport>) {
        self.client = client
    }

    /// Hands `write` the CSV text, the header first, a page of lines at a time; returns the movements written.
    package func export(
        _ scope: ExportScope, to write: (String) throws(ExportError) -> Void
    ) throws(ExportError) -> Int {
        try write(CSVWriter.line(scope.columns))
        var cursor: String?
        var count = 0
        repeat {
            let path = scope.path + "?limit=100" + (cursor.map { "&cursor=" + Self.percentEncoded($0) } ?? "")
            let (response, json): (HTTPClient.Response, JSONValue?)
            do throws(ClientFailure) {
                (response, json) = try client.exchange("GET", path)
            } catch {
                throw .client(error)
            }
            guard response.status == 200, let items = json?[member: "items"], case .array(let movements) = items
            else {
                throw .client(TallyClient<Transport>.failure("GET \(scope.path)", response))
            }
            var text = ""
            for movement in movements {
                text += CSVWriter.line(scope.columns.map { movement[member: $0]?.cellText ?? "" })
            }
            try write(text)
            count += movements.count
            cursor = json?[member: "next_cursor"]?.stringValue
        } while cursor != nil
        return count
    }

    /// The cursor as a query value: letters, digits and `-._~` as they are, every other byte as %XX.
    static func percentEncoded(_ text: String) -> String {
        let hexDigits = Array("0123456789ABCDEF")
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                encoded.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                encoded += "%" + String(hexDigits[Int(byte >> 4)]) + String(hexDigits[Int(byte & 15)])
            }
        }
        return encoded
    }
}
