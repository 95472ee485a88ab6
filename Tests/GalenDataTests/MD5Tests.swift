import Foundation
import GalenData
import Testing

@Suite("MD5")
struct MD5Tests {
    /// The test suite of RFC 1321, appendix A.5.
    static let rfc1321: [(message: String, digest: String)] = [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
        ("12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"),
    ]

    @Test func rfc1321TestSuite() {
        for (message, digest) in Self.rfc1321 {
            #expect(MD5.hash(Array(message.utf8)).hexDigest == digest, "MD5(\"\(message)\")")
        }
    }

    @Test func paddingBoundaries() {
        // 55, 56 and 64 bytes put the length field at the edges of one and two padding blocks.
        // Digests from Python's hashlib.
        let cases: [(Int, String)] = [
            (55, "ef1772b6dff9a122358552954ad0df65"),
            (56, "3b0c8ac703f828b04c6c197006d17218"),
            (63, "b06521f39153d618550606be297466d5"),
            (64, "014842d480b571495a4a0363793f7367"),
            (65, "c743a45e0d2e6a95cb859adae0248435"),
        ]
        for (count, digest) in cases {
            #expect(MD5.hash([UInt8](repeating: UInt8(ascii: "a"), count: count)).hexDigest == digest, "\(count) × 'a'")
        }
    }

    @Test func oneMillionAs() {
        #expect(MD5.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)).hexDigest
            == "7707d6ae4e027c70eea2a935c2296f21")
    }

    @Test func streamingInPiecesGivesTheSameDigest() {
        var generator = SystemRandomNumberGenerator()
        let message = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let whole = MD5.hash(message)
        for pieceSize in [1, 3, 63, 64, 65, 1000] {
            var md5 = MD5()
            for start in stride(from: 0, to: message.count, by: pieceSize) {
                md5.update(message[start..<min(start + pieceSize, message.count)])
            }
            #expect(md5.finalize() == whole, "pieces of \(pieceSize)")
        }
        // Finalizing does not end the computation.
        var md5 = MD5()
        md5.update(message[..<100])
        _ = md5.finalize()
        md5.update(message[100...])
        #expect(md5.finalize() == whole)
    }

    @Test(arguments: ["breastmnist", "pneumoniamnist"])
    func bundledMedMNISTFilesMatchTheCatalog(flag: String) throws {
        let info = try #require(MedMNISTInfo.named(flag))
        let path = repositoryRoot.appendingPathComponent("Data/medmnist/\(flag).npz").path
        #expect(try MD5.hash(fileAtPath: path).hexDigest == info.md5)
    }

    @Test func missingFileThrowsNamingIt() {
        #expect {
            try MD5.hash(fileAtPath: "/nonexistent/galen.npz")
        } throws: { error in
            "\(error)".contains("/nonexistent/galen.npz")
        }
    }
}
