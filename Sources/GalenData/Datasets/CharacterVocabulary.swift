/// A character-level vocabulary for sequences such as peptides or SMILES strings.
///
/// Index 0 is padding and index 1 stands for a character the vocabulary does not know; the known
/// characters follow in sorted order from index 2, so the same training text always gives the same
/// ids whatever the order of its rows.
public struct CharacterVocabulary: Sendable, Equatable {
    /// The id that fills sequences up to a fixed length.
    public static let paddingIndex = 0
    /// The id of a character that was not in the training sequences.
    public static let unknownIndex = 1
    /// What `decode` writes for the unknown id.
    public static let unknownCharacter: Character = "\u{FFFD}"

    /// The known characters, sorted; the id of `characters[i]` is `i + 2`.
    public let characters: [Character]
    private let idByCharacter: [Character: Int]

    /// The vocabulary of the distinct `characters` (duplicates are ignored).
    public init(characters: some Sequence<Character>) {
        self.characters = Set(characters).sorted()
        idByCharacter = Dictionary(uniqueKeysWithValues: self.characters.enumerated().map { ($1, $0 + 2) })
    }

    /// The vocabulary of every character in `sequences`.
    public init(sequences: some Sequence<String>) {
        self.init(characters: sequences.lazy.flatMap { $0 })
    }

    /// Number of ids, padding and unknown included: the size an embedding table needs.
    public var count: Int { characters.count + 2 }

    /// The id of `character`, `unknownIndex` when it is not known.
    public func id(of character: Character) -> Int { idByCharacter[character] ?? Self.unknownIndex }

    /// The ids of the characters of `text`, without padding.
    public func encode(_ text: String) -> [Int] { text.map(id(of:)) }

    /// The text of `ids`: padding is dropped, and the unknown id (or one out of range) becomes
    /// `unknownCharacter`.
    public func decode(_ ids: [Int]) -> String {
        var text = ""
        for id in ids where id != Self.paddingIndex {
            text.append(id >= 2 && id < count ? characters[id - 2] : Self.unknownCharacter)
        }
        return text
    }
}
