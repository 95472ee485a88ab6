import Foundation
import Galen
import GalenNN
import GalenOptim
import Testing

/// Resuming: 10 steps, save, a fresh optimizer (or schedule) loads the state, 10 more steps →
/// the same bits as 20 uninterrupted steps.
@Suite struct OptimizerStateDicts {
    @Test(arguments: OptimFixture.shared.optimizers.map(\.name))
    func resumingGivesTheSameBitsAsNotStopping(_ name: String) throws {
        let fixture = OptimFixture.shared
        let testCase = fixture.optimizerCase(name)

        let (w, b) = fixture.initialParameters()
        let uninterrupted = OptimFixture.makeOptimizer(testCase, w: w, b: b)
        for _ in 0..<20 { fixture.trainStep(uninterrupted, w: w, b: b) }

        let (w1, b1) = fixture.initialParameters()
        let first = OptimFixture.makeOptimizer(testCase, w: w1, b: b1)
        for _ in 0..<10 { fixture.trainStep(first, w: w1, b: b1) }
        let saved = first.stateDict()
        // Through the flat (safetensors) form, as a checkpoint would store it.
        let (tensors, metadata) = saved.flattened(prefix: "optimizer.")
        let savedValues = tensors.mapValues(\.scalars)
        let w3 = Tensor(w1.scalars, shape: w1.shape).requiringGrad()
        let b3 = Tensor(b1.scalars, shape: b1.shape).requiringGrad()
        fixture.trainStep(first, w: w1, b: b1)
        #expect(tensors.mapValues(\.scalars) == savedValues, "later steps reached into the saved state")

        let resumed = OptimFixture.makeOptimizer(testCase, w: w3, b: b3)
        try resumed.load(stateDict: OptimizerStateDict(tensors: tensors, metadata: metadata, prefix: "optimizer."))
        #expect(resumed.parameterGroups.map(\.hyperparameters) == saved.parameterGroups.map(\.hyperparameters))
        for _ in 0..<10 { fixture.trainStep(resumed, w: w3, b: b3) }
        #expect(w3.scalars == w.scalars, "\(name): resumed w differs from the uninterrupted run")
        #expect(b3.scalars == b.scalars, "\(name): resumed b differs from the uninterrupted run")
    }

    @Test func stateIsKeyedLikePyTorch() {
        let fixture = OptimFixture.shared
        let (w, b) = fixture.initialParameters()
        let optimizer = Adam([ParameterGroup([w]), ParameterGroup([b], learningRate: 0.1)], amsgrad: true)
        for _ in 0..<3 { fixture.trainStep(optimizer, w: w, b: b) }
        let (tensors, metadata) = optimizer.stateDict().flattened()
        #expect(Set(tensors.keys) == [
            "state.0.exp_avg", "state.0.exp_avg_sq", "state.0.max_exp_avg_sq",
            "state.1.exp_avg", "state.1.exp_avg_sq", "state.1.max_exp_avg_sq",
        ])
        #expect(tensors["state.0.exp_avg"]?.shape == [3, 4])
        #expect(metadata["optimizer"] == "Adam")
        #expect(metadata["state.0.step"] == "3")
        #expect(metadata["param_groups.0.params"] == "0")
        #expect(metadata["param_groups.1.params"] == "1")
        #expect(metadata["param_groups.0.lr"] == "0.001")
        #expect(metadata["param_groups.1.lr"] == "0.1")
        #expect(metadata["param_groups.1.amsgrad"] == "1.0")

        let sgd = SGD([w, b], learningRate: 0.1, momentum: 0.9)
        fixture.trainStep(sgd, w: w, b: b)
        let sgdState = sgd.stateDict()
        #expect(sgdState.state[0]?.step == nil)
        #expect(sgdState.state[1]?.buffers.keys.sorted() == ["momentum_buffer"])

        // Adagrad creates its sums up front, as PyTorch does.
        let adagrad = Adagrad([w, b], initialAccumulatorValue: 0.5)
        #expect(adagrad.stateDict().state[1]?.buffers["sum"]?.scalars == [0.5, 0.5, 0.5, 0.5])
        #expect(adagrad.stateDict().state[1]?.step == 0)
    }

    /// The error names the key at fault and nothing is loaded.
    func expectLoadError(
        _ key: String, _ optimizer: Optimizer, _ saved: OptimizerStateDict, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let before = optimizer.stateDict()
        do {
            try optimizer.load(stateDict: saved)
            Issue.record("loading succeeded; expected an error at \(key)", sourceLocation: sourceLocation)
        } catch let error as OptimizerStateError {
            #expect(error.key == key, "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
        let after = optimizer.stateDict()
        #expect(after.parameterGroups == before.parameterGroups, sourceLocation: sourceLocation)
        #expect(after.state.keys.sorted() == before.state.keys.sorted(), sourceLocation: sourceLocation)
    }

    @Test func mismatchedStateIsAThrownErrorNamingTheKey() {
        let fixture = OptimFixture.shared
        let (w, b) = fixture.initialParameters()
        let adam = Adam([w, b], learningRate: 0.01)
        fixture.trainStep(adam, w: w, b: b)
        let saved = adam.stateDict()

        let (w2, b2) = fixture.initialParameters()
        expectLoadError("optimizer", SGD([w2, b2]), saved)
        expectLoadError("param_groups", Adam([ParameterGroup([w2]), ParameterGroup([b2])]), saved)
        expectLoadError("param_groups.0.params", Adam([w2]), saved)

        let transposed = Tensor.zeros([4, 3]).requiringGrad()
        expectLoadError("state.0.exp_avg", Adam([transposed, b2]), saved)

        var missing = saved
        missing.state[1]?.buffers["exp_avg_sq"] = nil
        expectLoadError("state.1.exp_avg_sq", Adam([w2, b2]), missing)
        var noStep = saved
        noStep.state[0]?.step = nil
        expectLoadError("state.0.step", Adam([w2, b2]), noStep)
        var stray = saved
        stray.state[7] = saved.state[0]
        expectLoadError("state.7", Adam([w2, b2]), stray)
    }

    @Test func malformedFlatStateIsAThrownErrorNamingTheKey() {
        let fixture = OptimFixture.shared
        let (w, b) = fixture.initialParameters()
        let adam = Adam([w, b])
        fixture.trainStep(adam, w: w, b: b)
        let (tensors, metadata) = adam.stateDict().flattened()

        func expectError(_ key: String, tensors: [String: Tensor], metadata: [String: String]) {
            #expect {
                _ = try OptimizerStateDict(tensors: tensors, metadata: metadata)
            } throws: { error in
                (error as? OptimizerStateError)?.key == key
            }
        }
        var badStep = metadata
        badStep["state.0.step"] = "ten"
        expectError("state.0.step", tensors: tensors, metadata: badStep)
        var badRate = metadata
        badRate["param_groups.0.lr"] = "fast"
        expectError("param_groups.0.lr", tensors: tensors, metadata: badRate)
        var noOptimizer = metadata
        noOptimizer["optimizer"] = nil
        expectError("optimizer", tensors: tensors, metadata: noOptimizer)
        var noParams = metadata
        noParams["param_groups.0.params"] = nil
        expectError("param_groups.0.params", tensors: tensors, metadata: noParams)
        var badKey = tensors
        badKey["state.x.exp_avg"] = Tensor.zeros([4])
        expectError("state.x.exp_avg", tensors: badKey, metadata: metadata)

        // Unrelated entries of a checkpoint (the model's weights) are ignored.
        var checkpoint = tensors
        checkpoint["fc1.weight"] = Tensor.zeros([2, 2])
        #expect(throws: Never.self) {
            _ = try OptimizerStateDict(tensors: checkpoint, metadata: metadata.merging(["format": "pt"]) { a, _ in a })
        }
    }
}

@Suite struct SafetensorsCheckpoints {
    /// Optimizer and schedule state written into a safetensors file (GalenNN's writer) next to
    /// the weights, read back, and resumed: the same bits as not stopping.
    @Test func resumingFromAFileGivesTheSameBits() throws {
        let fixture = OptimFixture.shared
        func makeTraining(_ w: Tensor, _ b: Tensor) -> (Optimizer, OneCycleLR) {
            let optimizer = AdamW([ParameterGroup([w], learningRate: 0.01), ParameterGroup([b])], amsgrad: true)
            return (optimizer, OneCycleLR(optimizer: optimizer, maxLearningRates: [0.02, 0.05], totalSteps: 20))
        }
        let (w, b) = fixture.initialParameters()
        let (optimizer, schedule) = makeTraining(w, b)
        for _ in 0..<20 {
            fixture.trainStep(optimizer, w: w, b: b)
            schedule.step()
        }

        let (w1, b1) = fixture.initialParameters()
        let (first, firstSchedule) = makeTraining(w1, b1)
        for _ in 0..<10 {
            fixture.trainStep(first, w: w1, b: b1)
            firstSchedule.step()
        }
        let (tensors, metadata) = first.stateDict().flattened(prefix: "optimizer.")
        var entries = [(name: "w", tensor: SafeTensor(w1)), (name: "b", tensor: SafeTensor(b1))]
        entries += tensors.sorted { $0.key < $1.key }.map { (name: $0.key, tensor: SafeTensor($0.value)) }
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("galen-optim-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensors(entries, metadata: metadata.merging(firstSchedule.stateDict().metadata()) { a, _ in a })
            .write(to: path)

        let file = try SafeTensors(contentsOf: path)
        var loaded: [String: Tensor] = [:]
        for name in file.names { loaded[name] = try file.floatTensor(named: name) }
        let w2 = loaded["w"]!.requiringGrad()
        let b2 = loaded["b"]!.requiringGrad()
        let (resumed, resumedSchedule) = makeTraining(w2, b2)
        try resumed.load(stateDict: OptimizerStateDict(tensors: loaded, metadata: file.metadata, prefix: "optimizer."))
        try resumedSchedule.load(stateDict: SchedulerStateDict(metadata: file.metadata))
        for _ in 0..<10 {
            fixture.trainStep(resumed, w: w2, b: b2)
            resumedSchedule.step()
        }
        #expect(w2.scalars == w.scalars && b2.scalars == b.scalars)
        #expect(resumedSchedule.learningRates == schedule.learningRates)
        #expect(resumed.parameterGroups.map { $0[.beta1] } == optimizer.parameterGroups.map { $0[.beta1] })
    }
}

@Suite struct SchedulerStateDicts {
    @Test(arguments: OptimFixture.shared.schedules.map(\.name))
    func resumingGivesTheSameLearningRatesAsNotStopping(_ name: String) throws {
        let testCase = OptimFixture.shared.scheduleCase(name)
        let steps = testCase.lrs.count - 1
        let split = 10

        let optimizer = OptimFixture.makeScheduleOptimizer(testCase.optimizer)
        let scheduler = OptimFixture.makeScheduler(testCase, optimizer)
        var expectedRates: [[Double]] = []
        var expectedMomentums: [[Double]] = []
        for index in 0..<steps {
            OptimFixture.step(scheduler, testCase, index: index)
            expectedRates.append(scheduler.learningRates)
            expectedMomentums.append(OptimFixture.momentums(optimizer))
        }

        let first = OptimFixture.makeScheduleOptimizer(testCase.optimizer)
        let firstScheduler = OptimFixture.makeScheduler(testCase, first)
        for index in 0..<split { OptimFixture.step(firstScheduler, testCase, index: index) }
        let savedOptimizer = first.stateDict()
        let savedScheduler = firstScheduler.stateDict().metadata()

        // PyTorch's order: build the schedule (which rewrites the groups), then load both states.
        let resumed = OptimFixture.makeScheduleOptimizer(testCase.optimizer)
        let resumedScheduler = OptimFixture.makeScheduler(testCase, resumed)
        try resumed.load(stateDict: savedOptimizer)
        try resumedScheduler.load(stateDict: SchedulerStateDict(metadata: savedScheduler))
        #expect(resumedScheduler.stateDict() == firstScheduler.stateDict())
        for index in split..<steps {
            OptimFixture.step(resumedScheduler, testCase, index: index)
            #expect(resumedScheduler.learningRates == expectedRates[index], "\(name): step \(index + 1)")
            #expect(OptimFixture.momentums(resumed) == expectedMomentums[index], "\(name): step \(index + 1)")
        }
    }

    @Test func mismatchedScheduleStateIsAThrownErrorNamingTheKey() {
        let optimizer = OptimFixture.makeScheduleOptimizer("SGD")
        let step = StepLR(optimizer: optimizer, stepSize: 3)
        let exponential = ExponentialLR(optimizer: optimizer, gamma: 0.9)
        #expect { try exponential.load(stateDict: step.stateDict()) } throws: {
            ($0 as? OptimizerStateError)?.key == "scheduler"
        }
        var short = step.stateDict()
        short.values["base_lrs"] = [0.1]
        #expect { try step.load(stateDict: short) } throws: { ($0 as? OptimizerStateError)?.key == "base_lrs" }
        var fractional = step.stateDict()
        fractional.values["last_epoch"] = [2.5]
        #expect { try step.load(stateDict: fractional) } throws: { ($0 as? OptimizerStateError)?.key == "last_epoch" }
        #expect {
            _ = try SchedulerStateDict(metadata: ["scheduler.scheduler": "StepLR", "scheduler.last_epoch": "one"])
        } throws: { ($0 as? OptimizerStateError)?.key == "scheduler.last_epoch" }

        let plateau = ReduceLROnPlateau(optimizer: optimizer)
        plateau.step(metric: 1)
        #expect(throws: Never.self) {
            try plateau.load(stateDict: SchedulerStateDict(metadata: plateau.stateDict().metadata()))
        }
        #expect(plateau.best == 1)
    }
}
