import GalenMetrics
import Testing

@Suite struct ROCAUC {
    /// Values from scikit-learn's roc_auc_score on the same inputs.
    @Test func matchesScikitLearn() {
        #expect(rocAUC(scores: [0.1, 0.4, 0.35, 0.8], labels: [0, 0, 1, 1]) == 0.75)
        // Ties count one half: sklearn gives 0.5 for constant scores and 0.625 here.
        #expect(rocAUC(scores: [0.5, 0.5, 0.5, 0.5], labels: [0, 1, 0, 1]) == 0.5)
        #expect(rocAUC(scores: [0.2, 0.6, 0.6, 0.9], labels: [0, 0, 1, 1]) == 0.875)
        #expect(rocAUC(scores: [0.9, 0.8, 0.1], labels: [1, 1, 0]) == 1)
        #expect(rocAUC(scores: [0.9, 0.8, 0.1], labels: [0, 0, 1]) == 0)
    }

    @Test func undefinedWithOneClass() {
        #expect(rocAUC(scores: [0.1, 0.2], labels: [1, 1]) == nil)
    }

    @Test func multiClassIsTheMacroMeanOfOneVsRest() {
        let probabilities: [[Float]] = [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.4, 0.25, 0.35]]
        let labels = [[0], [1], [2], [1]]
        // One-vs-rest AUCs: class 0: 1.0, class 1: 0.75, class 2: 1.0 (by hand and sklearn's
        // roc_auc_score(multi_class="ovr", average="macro")).
        let auc = medMNISTAUC(probabilities: probabilities, labels: labels, task: .multiClass(classes: 3))!
        #expect(abs(auc - (1 + 0.75 + 1) / 3) < 1e-12)
    }
}
