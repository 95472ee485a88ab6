import Foundation
import Galen

/// Everything that defines a training run. `galen train`'s flags and a config file (JSON, or flat
/// YAML `key: value` lines) are two spellings of it; the run folder keeps it as `config.json`.
public struct TrainingConfiguration: Codable, Sendable, Equatable {
    /// A bundled or downloaded dataset name (`pneumoniamnist`, `breast-cancer-wisconsin`, ...) or a
    /// path to a MedMNIST-layout `.npz` or a `.csv`.
    public var data: String
    /// The target column of a CSV.
    public var target: String?
    // The defaults are Galen's PneumoniaMNIST recipe: LeNet-5, 30 epochs of Adam at 1e-3 with a
    // cosine schedule and standard augmentation reach test AUC 0.947 / ACC 0.891 in about two
    // minutes on 2 cores (docs/results.md), beyond the MedMNIST paper's ResNet-18 (0.944 / 0.854).
    /// A model-zoo name (`mlp`, `lenet`, `resnet18-28`, ...).
    public var model = "lenet"
    public var epochs = 30
    public var batchSize = 128
    public var learningRate = 1e-3
    /// `adam`, `adamw`, `sgd` (momentum 0.9) or `rmsprop`.
    public var optimizer = "adam"
    /// `multistep` (×0.1 at 50% and 75% of the epochs, the MedMNIST recipe), `cosine` (annealed
    /// to 0 over the epochs), `plateau` (×0.1 after 2 epochs without a better validation metric) or
    /// `none`.
    public var scheduler = "cosine"
    public var weightDecay = 0.0
    /// Image augmentation: `none`, `light` (random crop with 2-pixel padding, horizontal flip) or
    /// `standard` (light plus rotation up to ±10° and small scaling).
    public var augment = "standard"
    public var seed: UInt64 = 0
    /// Kernel and BLAS threads (all cores when nil). Same seed and threads → same bits.
    public var threads: Int?
    /// Stop after this many epochs without a better validation AUC (loss for regression).
    public var earlyStopping: Int?
    /// Background loader threads.
    public var workers = 1
    /// `medmnist` (pixel/255, then mean 0.5, std 0.5 per channel, as the MedMNIST code) or
    /// `unit` (pixel/255 only).
    public var normalization = "medmnist"
    /// Bootstrap resamples for the confidence intervals.
    public var bootstrap = 1000
    /// `none` or `balanced` (cross-entropy weighted N / (K · n_k) per class, for rare classes).
    public var classWeights = "none"
    /// Clip the global gradient norm to this value before each step.
    public var gradientClip: Double?
    /// Truncated backpropagation through time for recurrent models: gradients flow back through
    /// at most this many steps.
    public var bptt: Int?

    enum CodingKeys: String, CodingKey {
        case data, target, model, epochs, optimizer, scheduler, augment, seed, threads, workers, normalization, bootstrap
        case batchSize = "batch_size", learningRate = "lr", weightDecay = "weight_decay", earlyStopping = "early_stopping"
        case classWeights = "class_weights", gradientClip = "grad_clip", bptt
    }

    public init(data: String) { self.data = data }

    /// Reads missing keys as their defaults, so a config file may name only what it changes; an
    /// unknown key is an error (a typo would otherwise be silently ignored).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        data = try c.decode(String.self, forKey: .data)
        let d = TrainingConfiguration(data: data)
        target = try c.decodeIfPresent(String.self, forKey: .target)
        model = try c.decodeIfPresent(String.self, forKey: .model) ?? d.model
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? d.epochs
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? d.learningRate
        optimizer = try c.decodeIfPresent(String.self, forKey: .optimizer) ?? d.optimizer
        scheduler = try c.decodeIfPresent(String.self, forKey: .scheduler) ?? d.scheduler
        weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? d.weightDecay
        augment = try c.decodeIfPresent(String.self, forKey: .augment) ?? d.augment
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        threads = try c.decodeIfPresent(Int.self, forKey: .threads)
        earlyStopping = try c.decodeIfPresent(Int.self, forKey: .earlyStopping)
        workers = try c.decodeIfPresent(Int.self, forKey: .workers) ?? d.workers
        normalization = try c.decodeIfPresent(String.self, forKey: .normalization) ?? d.normalization
        bootstrap = try c.decodeIfPresent(Int.self, forKey: .bootstrap) ?? d.bootstrap
        classWeights = try c.decodeIfPresent(String.self, forKey: .classWeights) ?? d.classWeights
        gradientClip = try c.decodeIfPresent(Double.self, forKey: .gradientClip)
        bptt = try c.decodeIfPresent(Int.self, forKey: .bptt)
    }

    public static let optimizers = ["adam", "adamw", "sgd", "rmsprop"]
    public static let schedulers = ["multistep", "cosine", "plateau", "none"]
    public static let augmentations = ["none", "light", "standard"]
    public static let normalizations = ["medmnist", "unit"]
    public static let classWeightings = ["none", "balanced"]

    /// Checks every value, naming the offending key and the allowed values.
    public func validate() throws {
        func fail(_ key: String, _ message: String) -> ConfigurationError { ConfigurationError(key: key, message: message) }
        if epochs < 1 { throw fail("epochs", "must be at least 1, got \(epochs)") }
        if batchSize < 1 { throw fail("batch_size", "must be at least 1, got \(batchSize)") }
        if !(learningRate > 0) || !learningRate.isFinite { throw fail("lr", "must be a positive number, got \(learningRate)") }
        if weightDecay < 0 { throw fail("weight_decay", "must be ≥ 0, got \(weightDecay)") }
        if let threads, threads < 1 { throw fail("threads", "must be at least 1, got \(threads)") }
        if let earlyStopping, earlyStopping < 1 { throw fail("early_stopping", "must be at least 1, got \(earlyStopping)") }
        if workers < 0 { throw fail("workers", "must be ≥ 0, got \(workers)") }
        if let gradientClip, !(gradientClip > 0) || !gradientClip.isFinite {
            throw fail("grad_clip", "must be a positive number, got \(gradientClip)")
        }
        if let bptt, bptt < 1 { throw fail("bptt", "must be at least 1 step, got \(bptt)") }
        if bootstrap < 10 { throw fail("bootstrap", "must be at least 10 resamples, got \(bootstrap)") }
        for (key, value, allowed) in [("optimizer", optimizer, Self.optimizers), ("scheduler", scheduler, Self.schedulers),
                                      ("augment", augment, Self.augmentations), ("normalization", normalization, Self.normalizations),
                                      ("class_weights", classWeights, Self.classWeightings)]
        where !allowed.contains(value) {
            throw fail(key, "unknown value '\(value)'; choose one of \(allowed.joined(separator: ", "))")
        }
    }

    /// Reads a config file: JSON (`.json`, or text starting with `{`) or flat YAML.
    public static func read(contentsOf path: String) throws -> TrainingConfiguration {
        let data: Data
        do { data = try readWholeFile(atPath: path) } catch { throw ConfigurationError(key: nil, message: "\(error)", file: path) }
        let text = String(decoding: data, as: UTF8.self)
        let json: Data
        if path.hasSuffix(".json") || text.drop(while: { $0.isWhitespace }).first == "{" {
            json = data
        } else {
            json = try flatYAMLAsJSON(text, path: path)
        }
        guard let object = try? JSONSerialization.jsonObject(with: json) as? [String: Any] else {
            throw ConfigurationError(key: nil, message: "not a JSON object", file: path)
        }
        let known = Set(["data", "target", "model", "epochs", "batch_size", "lr", "optimizer", "scheduler", "weight_decay",
                         "augment", "seed", "threads", "early_stopping", "workers", "normalization", "bootstrap",
                         "class_weights", "grad_clip", "bptt"])
        // A run folder's config.json adds what the run observed (versions, machine) under "run".
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) && $0 != "run" }) {
            throw ConfigurationError(key: unknown, message: "unknown key; known keys: \(known.sorted().joined(separator: ", "))", file: path)
        }
        do {
            return try JSONDecoder().decode(TrainingConfiguration.self, from: json)
        } catch DecodingError.keyNotFound(let key, _) {
            throw ConfigurationError(key: key.stringValue, message: "is required", file: path)
        } catch DecodingError.typeMismatch(_, let context), DecodingError.dataCorrupted(let context) {
            throw ConfigurationError(key: context.codingPath.last?.stringValue, message: "has the wrong type: \(context.debugDescription)", file: path)
        }
    }

    /// Pretty, key-sorted JSON (the run folder's `config.json` holds it under "training").
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

/// A configuration value that is wrong, naming the key (and the file, for config files).
public struct ConfigurationError: Error, CustomStringConvertible, Equatable {
    public var key: String?
    public var message: String
    public var file: String?

    public init(key: String?, message: String, file: String? = nil) {
        self.key = key
        self.message = message
        self.file = file
    }

    public var description: String {
        var out = file.map { "\($0): " } ?? ""
        if let key { out += "'\(key)' " }
        return out + message
    }
}

/// Flat YAML (`key: value` per line, `#` comments, optional quotes) as JSON: numbers and
/// true/false/null become JSON values, everything else a string. Nested YAML is refused.
func flatYAMLAsJSON(_ text: String, path: String) throws -> Data {
    var object: [String: Any] = [:]
    for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        var line = String(raw)
        if let hash = line.firstIndex(of: "#") { line = String(line[..<hash]) }
        if line.trimmingCharacters(in: .whitespaces).isEmpty || line.hasPrefix("---") { continue }
        guard !line.first!.isWhitespace, let colon = line.firstIndex(of: ":") else {
            throw ConfigurationError(key: nil, message: "line \(number + 1): expected 'key: value' (flat YAML only)", file: path)
        }
        let key = line[..<colon].trimmingCharacters(in: .whitespaces)
        var value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q {
            object[key] = String(value.dropFirst().dropLast())
            continue
        }
        value = value.trimmingCharacters(in: .whitespaces)
        if value.isEmpty {
            throw ConfigurationError(key: key, message: "line \(number + 1): has no value (nested YAML is not supported)", file: path)
        }
        if let int = Int(value) { object[key] = int } else if let double = Double(value) { object[key] = double } else if value == "true" || value == "false" {
            object[key] = value == "true"
        } else if value == "null" || value == "~" { continue } else { object[key] = value }
    }
    return try JSONSerialization.data(withJSONObject: object)
}

extension ConfigurationError: LocalizedError {
    public var errorDescription: String? { description }
}
