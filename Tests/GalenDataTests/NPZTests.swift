import Foundation
import Galen
import GalenData
import Testing

// Reading what np.savez / np.savez_compressed wrote: stored and deflated members, data
// descriptors, zip64 records; selective decoding; errors that name the archive and the array.

@Suite struct NPZReading {
    @Test(arguments: DataCases.shared.npz)
    func readsEveryArrayExactly(_ expected: NPZCase) throws {
        let npz = try NPZ(contentsOf: fixturePath(expected.file))
        #expect(npz.names == expected.names)
        for name in expected.names {
            let array = try #require(npz[name], "\(expected.file): \(name)")
            expectArray(array, matches: try #require(expected.members[name]))
            #expect(array.source == "NPZ member \(name).npy of file \(fixturePath(expected.file))")
        }
    }

    @Test func decodesOnlyTheNamedArrays() throws {
        let path = fixturePath("npz/arrays_deflated.npz")
        let npz = try NPZ(contentsOf: path, only: ["labels"])
        #expect(npz.names.count == 8)
        #expect(npz["labels"] != nil && npz["images"] == nil)
        let notDecoded = #expect(throws: DataFormatError.self) { try npz.array(named: "images") }
        #expect(notDecoded?.message.contains("not decoded") == true)
        let missing = #expect(throws: DataFormatError.self) { try npz.array(named: "nope") }
        #expect(missing?.source == path)
        #expect(missing?.message.contains("images, labels, weights") == true)
        let missingOnly = #expect(throws: DataFormatError.self) { try NPZ(contentsOf: path, only: ["labels", "nope"]) }
        #expect(missingOnly?.message.contains("no array named nope") == true)
    }

    @Test func storedAndDeflatedHoldTheSameArrays() throws {
        let stored = try NPZ(contentsOf: fixturePath("npz/arrays_stored.npz"))
        for kind in ["deflated", "descriptor", "zip64"] {
            let other = try NPZ(contentsOf: fixturePath("npz/arrays_\(kind).npz"))
            for name in stored.names { #expect(stored[name] == other[name], "\(kind): \(name)") }
        }
    }
}
