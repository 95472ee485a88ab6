import Galen

/// The five heartbeat classes of the AAMI EC57 standard, as used to evaluate arrhythmia
/// classifiers on MIT-BIH. The raw value is the class index a model predicts.
public enum AAMIClass: Int, Sendable, CaseIterable, CustomStringConvertible {
    /// N: normal and bundle-branch-block beats, atrial and nodal escape beats.
    case normal = 0
    /// S: supraventricular ectopic beats (atrial, aberrated atrial, nodal, supraventricular premature).
    case supraventricularEctopic
    /// V: premature ventricular contractions and ventricular escape beats.
    case ventricularEctopic
    /// F: fusion of ventricular and normal beats.
    case fusion
    /// Q: paced, fusion of paced and normal, and unclassifiable beats.
    case unknown

    /// The class letter: N, S, V, F or Q.
    public var description: String { ["N", "S", "V", "F", "Q"][rawValue] }

    /// WFDB beat symbols by class: N, L, R, e, j → N; A, a, J, S → S; V, E → V; F → F; /, f, Q → Q.
    /// Other beat symbols (B, n, ?) have no class here and their beats are left out.
    public static let standardMapping: [String: AAMIClass] = [
        "N": .normal, "L": .normal, "R": .normal, "e": .normal, "j": .normal,
        "A": .supraventricularEctopic, "a": .supraventricularEctopic, "J": .supraventricularEctopic,
        "S": .supraventricularEctopic,
        "V": .ventricularEctopic, "E": .ventricularEctopic,
        "F": .fusion,
        "/": .unknown, "f": .unknown, "Q": .unknown,
    ]
}

/// A length of time around a beat, in samples or in seconds (rounded to the nearest sample).
public enum BeatWindowLength: Sendable, Equatable {
    case samples(Int)
    case seconds(Double)

    /// The length in samples at `frequency` Hz.
    public func samples(atFrequency frequency: Double) -> Int {
        switch self {
        case .samples(let n): return n
        case .seconds(let s): return Int((s * frequency).rounded())
        }
    }
}

/// Heartbeats of a WFDB record: one window of the signal around each annotated beat, labelled with
/// its AAMI class.
///
/// ```swift
/// let beats = try WFDBBeatDataset(record: "Data/ecg/100", leads: ["MLII"])
/// beats.count                       // beats with a full window
/// try beats.example(at: 0).input    // [1, 252]: 0.25 s before the beat to 0.45 s after, in mV
/// ```
///
/// The window of a beat at sample `s` covers samples `s − before ..< s + after`, in physical units
/// (e.g. mV), shape [leads, before + after]; `label` is the `AAMIClass` raw value. Annotations that
/// are not beats (rhythm changes `+`, noise `~`, artifacts `|`, …) are skipped, and so are beats
/// whose symbol the mapping does not class, whose window would cross either end of the record, or
/// whose window holds an invalid (NaN) sample; the counts of each are kept.
public struct WFDBBeatDataset: Dataset {
    /// One kept beat.
    public struct Beat: Sendable, Equatable {
        /// Sample index of the beat annotation (the QRS).
        public let sample: Int
        /// WFDB symbol, e.g. `N`, `A`, `V`.
        public let symbol: String
        /// Its AAMI class.
        public let beatClass: AAMIClass
    }

    /// The kept beats, in time order.
    public let beats: [Beat]
    /// Names of the leads in each window, in order.
    public let leads: [String]
    /// Sampling frequency in Hz.
    public let frequency: Double
    /// Samples before the beat.
    public let before: Int
    /// Samples from the beat on (the beat's own sample included).
    public let after: Int
    /// Beats left out because their window would cross the start or the end of the record.
    public let skippedAtEdges: Int
    /// Beats left out because their window holds an invalid sample.
    public let skippedWithInvalidSamples: Int
    /// Beats left out because the mapping gives their symbol no class, counted by symbol.
    public let unmappedBeats: [String: Int]
    /// The chosen leads' signals, lead-major [leads × sampleCount].
    private let signals: [Float]
    /// Samples per lead in the record.
    public let sampleCount: Int

    public var count: Int { beats.count }
    /// Samples per window.
    public var windowLength: Int { before + after }
    /// Kept beats per class, indexed by `AAMIClass.rawValue`.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: AAMIClass.allCases.count)
        for beat in beats { counts[beat.beatClass.rawValue] += 1 }
        return counts
    }

    /// Reads record `record` (path without extension, e.g. `Data/ecg/100`) and its annotation file
    /// `record.annotator`; `leads` picks signals by name (nil: all, in header order).
    public init(
        record: String, annotator: String = "atr", leads: [String]? = nil,
        before: BeatWindowLength = .seconds(0.25), after: BeatWindowLength = .seconds(0.45),
        mapping: [String: AAMIClass] = AAMIClass.standardMapping
    ) throws {
        let signalRecord = try WFDBRecord(contentsOf: record)
        let annotations = try WFDBAnnotations(contentsOf: record + "." + annotator)
        let names = signalRecord.signalNames
        let channels = try (leads ?? names).map { lead in
            guard let channel = names.firstIndex(of: lead) else {
                throw DataFormatError(source: record + ".hea", message: "no lead named '\(lead)' (leads: \(names))")
            }
            return channel
        }
        let frequency = signalRecord.frequency
        let before = before.samples(atFrequency: frequency), after = after.samples(atFrequency: frequency)
        check(before >= 0 && after >= 0 && before + after > 0,
              "WFDBBeatDataset: the window needs before >= 0, after >= 0 and a positive length, got \(before) and \(after) samples")
        let n = signalRecord.sampleCount
        let all = signalRecord.signals.scalars
        var signals: [Float] = []
        signals.reserveCapacity(channels.count * n)
        for c in channels { signals += all[c * n..<(c + 1) * n] }

        var beats: [Beat] = []
        var atEdges = 0, invalid = 0
        var unmapped: [String: Int] = [:]
        for annotation in annotations.beats {
            guard let beatClass = mapping[annotation.symbol] else {
                unmapped[annotation.symbol, default: 0] += 1
                continue
            }
            let start = annotation.sample - before
            guard start >= 0, annotation.sample + after <= n else {
                atEdges += 1
                continue
            }
            let hasInvalid = channels.indices.contains { lead in
                signals[lead * n + start..<lead * n + start + before + after].contains { $0.isNaN }
            }
            if hasInvalid {
                invalid += 1
                continue
            }
            beats.append(Beat(sample: annotation.sample, symbol: annotation.symbol, beatClass: beatClass))
        }
        self.beats = beats
        self.leads = channels.map { names[$0] }
        self.frequency = frequency
        self.before = before
        self.after = after
        self.skippedAtEdges = atEdges
        self.skippedWithInvalidSamples = invalid
        self.unmappedBeats = unmapped
        self.signals = signals
        self.sampleCount = n
    }

    public func example(at index: Int, generator: Generator) throws -> Example {
        check(index >= 0 && index < count, "WFDBBeatDataset.example: index \(index) is outside 0..<\(count)")
        let beat = beats[index]
        let start = beat.sample - before
        var window: [Float] = []
        window.reserveCapacity(leads.count * windowLength)
        for lead in leads.indices {
            window += signals[lead * sampleCount + start..<lead * sampleCount + start + windowLength]
        }
        return Example(input: Tensor(window, shape: [leads.count, windowLength]), label: IntTensor([beat.beatClass.rawValue]))
    }
}
