import Galen

/// Area under the ROC curve for binary labels (1 = positive), the probability that a random
/// positive scores above a random negative, ties counting one half (the Mann–Whitney form, which
/// equals scikit-learn's trapezoidal `roc_auc_score`).
///
/// Returns nil when the labels hold only one class: the AUC is undefined there (scikit-learn
/// raises), and a caller must decide how to report it.
public func rocAUC(scores: [Float], labels: [Int]) -> Double? {
    check(scores.count == labels.count, "rocAUC: \(scores.count) scores for \(labels.count) labels")
    let positives = labels.filter { $0 == 1 }.count
    let negatives = labels.count - positives
    guard positives > 0, negatives > 0 else { return nil }
    // Average ranks of the scores (ties share the mean of their ranks), then the rank-sum formula.
    let order = scores.indices.sorted { scores[$0] < scores[$1] }
    var rankSumOfPositives = 0.0
    var start = 0
    while start < order.count {
        var end = start
        while end + 1 < order.count && scores[order[end + 1]] == scores[order[start]] { end += 1 }
        let averageRank = Double(start + end) / 2 + 1
        for k in start...end where labels[order[k]] == 1 { rankSumOfPositives += averageRank }
        start = end + 1
    }
    let p = Double(positives)
    return (rankSumOfPositives - p * (p + 1) / 2) / (p * Double(negatives))
}

/// MedMNIST's AUC for a task: binary uses the positive-class score; multi-class averages the
/// one-vs-rest AUCs over classes (macro); multi-label averages the per-label AUCs. Classes or
/// labels with a single class present in `labels` are skipped, as nil AUCs.
public func medMNISTAUC(probabilities: [[Float]], labels: [[Int]], task: AUCTask) -> Double? {
    switch task {
    case .binary:
        return rocAUC(scores: probabilities.map { $0[$0.count - 1] }, labels: labels.map { $0[0] })
    case .multiClass(let classes):
        let aucs = (0..<classes).compactMap { c in
            rocAUC(scores: probabilities.map { $0[c] }, labels: labels.map { $0[0] == c ? 1 : 0 })
        }
        return aucs.isEmpty ? nil : aucs.reduce(0, +) / Double(aucs.count)
    case .multiLabel(let count):
        let aucs = (0..<count).compactMap { l in rocAUC(scores: probabilities.map { $0[l] }, labels: labels.map { $0[l] }) }
        return aucs.isEmpty ? nil : aucs.reduce(0, +) / Double(aucs.count)
    }
}

/// How `medMNISTAUC` reads predictions.
public enum AUCTask: Sendable {
    case binary
    case multiClass(classes: Int)
    case multiLabel(labels: Int)
}
