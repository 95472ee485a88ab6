import ArgumentParser

/// The `galen` command line. Thin by design: parsing and printing; the work is in the libraries.
@main
struct GalenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "galen",
        abstract: "Deep learning for medicine.",
        subcommands: [Train.self, Evaluate.self, Predict.self, LanguageModel.self, Word2Vec.self, Datasets.self, Inspect.self, Demo.self])
}
