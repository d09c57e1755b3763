@testable import Credentials
import Foundation
import Testing

@Suite("Passwords, tokens and hashes")
struct CredentialsTests {
    @Test("SHA-256 matches the standard's test vectors")
    func sha256Vectors() {
        #expect(SHA256.hash([]).hexadecimal == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            SHA256.hash(Array("abc".utf8)).hexadecimal
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)).hexadecimal
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000)).hexadecimal
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("argon2id: the right password verifies, a wrong one does not, and salts differ")
    func argon2RoundTrip() throws {
        let hasher = PasswordHasher()
        let hash = try hasher.hash("correct horse battery")
        #expect(hash.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        #expect(hasher.verify("correct horse battery", against: hash))
        #expect(!hasher.verify("correct horse batterY", against: hash))
        #expect(try hasher.hash("correct horse battery") != hash)
        #expect(!hasher.verify("anything", against: hasher.decoyHash()))
        #expect(!hasher.verify("anything", against: "not a hash"))
    }

    @Test("tokens are 32 random bytes behind a prefix, never repeat, and hash to 32 bytes")
    func tokensAreRandom() throws {
        let tokens = (0..<200).map { _ in BearerToken.generate() }
        #expect(Set(tokens.map(\.text)).count == 200)
        for token in tokens {
            #expect(token.text.hasPrefix("tly_") && token.text.count == 4 + 43)
            #expect(token.hash.count == 32)
            #expect(BearerToken(text: token.text)?.hash == token.hash)
        }
    }

    @Test("a token's hash is its SHA-256 on every call, also once the cache of hashes has started again")
    func cachedHashesAreTheTokensHashes() throws {
        let cache = TokenHashCache(capacity: 2)
        let tokens = (0..<5).map { _ in BearerToken.generate() }
        for _ in 0..<3 {
            for token in tokens {
                #expect(cache.hash(of: token.text) == SHA256.hash(Array(token.text.utf8)))
            }
        }
        #expect(tokens[0].hash == SHA256.hash(Array(tokens[0].text.utf8)))
    }

    @Test("the Authorization header must be 'Bearer <token>'")
    func parsesAuthorizationHeader() throws {
        let token = BearerToken.generate()
        #expect(BearerToken(authorizationHeader: "Bearer \(token.text)")?.text == token.text)
        #expect(BearerToken(authorizationHeader: "bearer \(token.text)")?.text == token.text)
        #expect(BearerToken(authorizationHeader: "BEARER \(token.text)")?.text == token.text)
        #expect(BearerToken(authorizationHeader: "  Bearer   \(token.text) ")?.text == token.text)
        for header in [
            nil, "", "Bearer", token.text, "Basic \(token.text)", "Bearer \(token.text) extra",
            "Bearers \(token.text)", "Beare \(token.text)", "Bearer\u{0} \(token.text)", "B\u{e9}arer \(token.text)",
            "Bearer tly_", "Bearer xyz_" + token.text.dropFirst(4), "Bearer " + token.text.dropLast(),
            "Bearer \(token.text)=", "Bearer " + token.text.dropLast() + "+",
            "Bearer " + token.text.dropLast() + "\u{e9}", "Bearer " + token.text + "A",
        ] as [String?] {
            #expect(BearerToken(authorizationHeader: header) == nil, "\(header ?? "nil")")
        }
    }

    @Test("base64url decodes what it encodes, at every length, and refuses other characters and lengths")
    func base64URLRoundTrip() {
        for length in 0...70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 201) }
            let text = Base64URL.encode(bytes)
            #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
            #expect(Base64URL.decode(text) == bytes, "length \(length)")
        }
        #expect(Base64URL.decode("-_-_") == [0xFB, 0xFF, 0xBF])
        for bad in ["A", "AAAAA", "AB+C", "AB/C", "AB=C", "AB C", "ABÉ", "AB\u{0}C"] {
            #expect(Base64URL.decode(bad) == nil, "\(bad)")
        }
    }
}

extension Array where Element == UInt8 {
    /// Lower-case hexadecimal text, to compare digests with the published vectors.
    fileprivate var hexadecimal: String { map { String(format: "%02x", $0) }.joined() }
}
