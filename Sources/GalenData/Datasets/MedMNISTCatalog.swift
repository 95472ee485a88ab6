// The 2D datasets of MedMNIST, as the official package describes them in `medmnist/info.py`
// (MedMNIST v3.0.2, files on Zenodo record 10519652). URLs and MD5s are those of the 28×28
// files. Of these, only Organ{A,C,S}MNIST changed since v2 (Zenodo record 6496656): their v3
// files have different MD5s and a few dozen fewer training/test images than v2's.

/// The kind of prediction a MedMNIST dataset poses, with MedMNIST's own names as raw values.
public enum MedMNISTTask: String, Sendable, CaseIterable {
    /// Two classes; labels are 0 or 1.
    case binaryClass = "binary-class"
    /// One of several classes; labels are 0 ..< classCount.
    case multiClass = "multi-class"
    /// Several independent yes/no findings (ChestMNIST); labels are N×L of 0 and 1.
    case multiLabel = "multi-label, binary-class"
    /// Ordered grades (RetinaMNIST); labels are 0 ..< classCount and their order matters.
    case ordinalRegression = "ordinal-regression"
}

/// What MedMNIST's catalog says about one 2D dataset.
public struct MedMNISTInfo: Sendable, Equatable {
    /// The dataset's flag, also its file name: `pneumoniamnist` (→ `pneumoniamnist.npz`).
    public let flag: String
    /// The display name, e.g. `PneumoniaMNIST`.
    public let name: String
    /// The imaging modality, e.g. `Chest X-Ray`.
    public let modality: String
    /// The prediction task.
    public let task: MedMNISTTask
    /// Image channels: 1 (gray) or 3 (RGB).
    public let channels: Int
    /// The class names by label value; for multi-label data, the name of each label column.
    public let labelNames: [String]
    /// Images in the official train / validation / test splits.
    public let splitSizes: (train: Int, validation: Int, test: Int)
    /// Where the official 28×28 file is published.
    public let url: String
    /// The MD5 checksum of that file.
    public let md5: String
    /// The data license (CC BY 4.0, except DermaMNIST's CC BY-NC 4.0).
    public let license: String

    /// Number of classes (or of labels, for multi-label data).
    public var classCount: Int { labelNames.count }

    /// Number of images in `split`.
    public func size(of split: MedMNISTSplitName) -> Int {
        switch split {
        case .train: return splitSizes.train
        case .validation: return splitSizes.validation
        case .test: return splitSizes.test
        }
    }

    public static func == (lhs: MedMNISTInfo, rhs: MedMNISTInfo) -> Bool {
        lhs.flag == rhs.flag && lhs.name == rhs.name && lhs.task == rhs.task && lhs.channels == rhs.channels
            && lhs.labelNames == rhs.labelNames && lhs.splitSizes == rhs.splitSizes && lhs.url == rhs.url
            && lhs.md5 == rhs.md5 && lhs.license == rhs.license && lhs.modality == rhs.modality
    }

    /// The catalog entry for `flag` (case-insensitive, e.g. `pneumoniamnist` or `PneumoniaMNIST`).
    public static func named(_ flag: String) -> MedMNISTInfo? {
        let key = flag.lowercased()
        return catalog.first { $0.flag == key }
    }

    /// The twelve 2D datasets of MedMNIST.
    public static let catalog: [MedMNISTInfo] = [
        entry(
            "pathmnist", "PathMNIST", "Colon Pathology", .multiClass, channels: 3,
            ["adipose", "background", "debris", "lymphocytes", "mucus", "smooth muscle", "normal colon mucosa",
             "cancer-associated stroma", "colorectal adenocarcinoma epithelium"],
            (89996, 10004, 7180), md5: "a8b06965200029087d5bd730944a56c1"),
        entry(
            "chestmnist", "ChestMNIST", "Chest X-Ray", .multiLabel, channels: 1,
            ["atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule", "pneumonia",
             "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis", "pleural", "hernia"],
            (78468, 11219, 22433), md5: "02c8a6516a18b556561a56cbdd36c4a8"),
        entry(
            "dermamnist", "DermaMNIST", "Dermatoscope", .multiClass, channels: 3,
            ["actinic keratoses and intraepithelial carcinoma", "basal cell carcinoma", "benign keratosis-like lesions",
             "dermatofibroma", "melanoma", "melanocytic nevi", "vascular lesions"],
            (7007, 1003, 2005), md5: "0744692d530f8e62ec473284d019b0c7", license: "CC BY-NC 4.0"),
        entry(
            "octmnist", "OCTMNIST", "Retinal OCT", .multiClass, channels: 1,
            ["choroidal neovascularization", "diabetic macular edema", "drusen", "normal"],
            (97477, 10832, 1000), md5: "c68d92d5b585d8d81f7112f81e2d0842"),
        entry(
            "pneumoniamnist", "PneumoniaMNIST", "Chest X-Ray", .binaryClass, channels: 1,
            ["normal", "pneumonia"],
            (4708, 524, 624), md5: "28209eda62fecd6e6a2d98b1501bb15f"),
        entry(
            "retinamnist", "RetinaMNIST", "Fundus Camera", .ordinalRegression, channels: 3,
            ["0", "1", "2", "3", "4"],
            (1080, 120, 400), md5: "bd4c0672f1bba3e3a89f0e4e876791e4"),
        entry(
            "breastmnist", "BreastMNIST", "Breast Ultrasound", .binaryClass, channels: 1,
            ["malignant", "normal, benign"],
            (546, 78, 156), md5: "750601b1f35ba3300ea97c75c52ff8f6"),
        entry(
            "bloodmnist", "BloodMNIST", "Blood Cell Microscope", .multiClass, channels: 3,
            ["basophil", "eosinophil", "erythroblast",
             "immature granulocytes(myelocytes, metamyelocytes and promyelocytes)", "lymphocyte", "monocyte",
             "neutrophil", "platelet"],
            (11959, 1712, 3421), md5: "7053d0359d879ad8a5505303e11de1dc"),
        entry(
            "tissuemnist", "TissueMNIST", "Kidney Cortex Microscope", .multiClass, channels: 1,
            ["Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule", "Glomerular endothelial cells",
             "Interstitial endothelial cells", "Leukocytes", "Podocytes", "Proximal Tubule Segments",
             "Thick Ascending Limb"],
            (165466, 23640, 47280), md5: "ebe78ee8b05294063de985d821c1c34b"),
        entry(
            "organamnist", "OrganAMNIST", "Abdominal CT", .multiClass, channels: 1, organNames,
            (34561, 6491, 17778), md5: "68e3f8846a6bd62f0c9bf841c0d9eacc"),
        entry(
            "organcmnist", "OrganCMNIST", "Abdominal CT", .multiClass, channels: 1, organNames,
            (12975, 2392, 8216), md5: "b9ceb9546e10131b32923c5bbeaea2b1"),
        entry(
            "organsmnist", "OrganSMNIST", "Abdominal CT", .multiClass, channels: 1, organNames,
            (13932, 2452, 8827), md5: "9ab87b696fb54e2a387ebe992d6ed5f1"),
    ]

    /// The eleven organs of Organ{A,C,S}MNIST, by label value.
    private static let organNames = [
        "bladder", "femur-left", "femur-right", "heart", "kidney-left", "kidney-right", "liver", "lung-left",
        "lung-right", "pancreas", "spleen",
    ]

    private static func entry(
        _ flag: String, _ name: String, _ modality: String, _ task: MedMNISTTask, channels: Int, _ labelNames: [String],
        _ sizes: (Int, Int, Int), md5: String, license: String = "CC BY 4.0"
    ) -> MedMNISTInfo {
        MedMNISTInfo(
            flag: flag, name: name, modality: modality, task: task, channels: channels, labelNames: labelNames,
            splitSizes: (train: sizes.0, validation: sizes.1, test: sizes.2),
            url: "https://zenodo.org/records/10519652/files/\(flag).npz?download=1", md5: md5, license: license)
    }
}
