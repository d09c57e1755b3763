/// What one token and one client address may hold in the spool at once, so that no one client fills it for
/// everyone while the database is down. The service role's requests are not capped (nor counted): its token is
/// the operator's own, trusted with every account, and bounded by the spool's size like everything.
package struct SpoolQuota: Equatable, Sendable {
    /// Requests waiting per token, and their bytes (as stored: the compact request, its key and ids).
    package var requestsPerToken: Int
    package var bytesPerToken: Int
    /// The same per client address, summed over all its tokens.
    package var requestsPerAddress: Int
    package var bytesPerAddress: Int

    package init(requestsPerToken: Int, bytesPerToken: Int, requestsPerAddress: Int, bytesPerAddress: Int) {
        self.requestsPerToken = requestsPerToken
        self.bytesPerToken = bytesPerToken
        self.requestsPerAddress = requestsPerAddress
        self.bytesPerAddress = bytesPerAddress
    }

    /// 100 requests or 256 KiB per token, 1,000 requests or 2 MiB per address. A spooled request takes about
    /// 200 bytes (3.3 KiB at most: a 500-character memo and a 255-character key, in 4-byte characters), so a
    /// person's own payments through an outage fit many times over, and filling the 64 MiB spool takes at least
    /// 32 addresses with a live token each.
    package static let standard = SpoolQuota(
        requestsPerToken: 100, bytesPerToken: 256 << 10, requestsPerAddress: 1_000, bytesPerAddress: 2 << 20)

    /// The bytes `holder` may have waiting.
    func bytes(of holder: RequestSpool.QuotaHolder) -> Int {
        holder == .token ? bytesPerToken : bytesPerAddress
    }

    /// Retry-After for a request over its quota: the spool empties only once the database is back.
    static let retryAfterSeconds = 5
}
