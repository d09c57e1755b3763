import Glibc
import SystemSupport
import Testing

@Suite("System errors in words")
struct SystemErrorTests {
    @Test("an errno is explained by strerror after what failed")
    func errnoIsExplained() {
        let error = SystemError("open /nowhere/spool", errno: ENOENT)
        #expect(error.code == .errno(ENOENT))
        #expect(error.description == "open /nowhere/spool: No such file or directory")
    }

    @Test("a getaddrinfo failure keeps its EAI code and gai_strerror's words, not a made-up errno")
    func addressLookupIsExplained() {
        let error = SystemError("getaddrinfo nohost:9000", addressLookupStatus: EAI_NONAME)
        #expect(error.code == .addressLookup(EAI_NONAME))
        #expect(error.description == "getaddrinfo nohost:9000: \(String(cString: gai_strerror(EAI_NONAME)))")
    }

    @Test("EAI_SYSTEM means the cause is in errno")
    func addressLookupSystemErrorUsesErrno() {
        errno = EMFILE
        let error = SystemError("getaddrinfo host:9000", addressLookupStatus: EAI_SYSTEM)
        #expect(error.code == .errno(EMFILE))
    }
}
