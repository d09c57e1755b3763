/// libFuzzer's entry point for the request body parser (run_fuzz in scripts/test.sh builds it with the parser's
/// own source files and runs it for a bounded time). Whatever the bytes, the parser must not crash; and when it
/// accepts them:
/// - they are JSON by RFC 8259's grammar (`JSONGrammar`, written apart from the parser), and it refuses
///   nothing that grammar accepts;
/// - the value, serialized and parsed again, is the same value, and serializing that gives the same text.
/// A broken property stops the run with the input saved (fatalError is a crash to libFuzzer).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSONParser(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    let grammatical = JSONGrammar.accepts(bytes)
    let value: JSONValue
    do {
        value = try JSONParser.parse(bytes)
    } catch {
        if grammatical { fatalError("the parser refused a JSON text: \(error)") }
        return 0
    }
    guard grammatical else { fatalError("the parser accepted bytes that are not JSON, as \(value)") }
    let text = value.serialized()
    let again: JSONValue
    do {
        again = try JSONParser.parse(Array(text.utf8))
    } catch {
        fatalError("the serialized value does not parse: \(error) in \(text)")
    }
    guard again == value else { fatalError("the value changed in a round trip: \(value) became \(again)") }
    guard again.serialized() == text else { fatalError("serializing twice gave two texts: \(text)") }
    return 0
}
