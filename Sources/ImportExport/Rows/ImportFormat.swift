/// The formats `tally import` reads: CSV with a header row, or one JSON object per line (NDJSON). Both carry the
/// same columns (ImportColumn).
package enum ImportFormat: String, CaseIterable, Sendable {
    case csv
    case ndjson

    /// The format a file's name says: `.csv`, or `.ndjson` / `.jsonl` (any case); nil for anything else.
    package init?(fileName: String) {
        let name = fileName.lowercased()
        if name.hasSuffix(".csv") {
            self = .csv
        } else if name.hasSuffix(".ndjson") || name.hasSuffix(".jsonl") {
            self = .ndjson
        } else {
            return nil
        }
    }
}
