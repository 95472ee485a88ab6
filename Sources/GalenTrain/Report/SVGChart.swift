import Foundation
import Galen

// Charts for run reports, written as standalone SVG so that report.html embeds them without any
// script or network access. Every chart has a title, labelled axes with units in the label, tick
// values and a legend when it draws more than one series.

/// Colours that stay distinguishable for the common forms of colour blindness (Okabe–Ito).
public enum ChartPalette {
    public static let colors = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
    public static func color(_ index: Int) -> String { colors[index % colors.count] }
}

/// One line of a line chart, optionally with a shaded band (a confidence interval).
public struct ChartSeries: Sendable {
    public var name: String
    public var x: [Double]
    public var y: [Double]
    public var color: String
    public var dashed: Bool
    /// Lower and upper edges of a band around the line, on the same x values.
    public var band: (lower: [Double], upper: [Double])?
    /// Draw markers at the points (for sparse series such as reliability bins).
    public var markers: Bool

    public init(name: String, x: [Double], y: [Double], color: String? = nil, index: Int = 0, dashed: Bool = false,
                band: (lower: [Double], upper: [Double])? = nil, markers: Bool = false) {
        check(x.count == y.count, "ChartSeries \(name): \(x.count) x values for \(y.count) y values")
        self.name = name
        self.x = x
        self.y = y
        self.color = color ?? ChartPalette.color(index)
        self.dashed = dashed
        self.band = band
        self.markers = markers
    }
}

/// A line chart with linear axes.
public struct LineChart: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [ChartSeries]
    /// Fixed axis ranges; nil fits the data with a margin.
    public var xRange: ClosedRange<Double>?
    public var yRange: ClosedRange<Double>?
    /// Draw the y = x diagonal (chance line of a ROC curve, perfect calibration).
    public var diagonal: Bool
    /// Ticks on the x axis only at whole numbers (epochs).
    public var integerX: Bool
    /// Where the legend goes: put it where the lines are not (top right for falling curves).
    public var legendAtTop: Bool
    public var width: Int
    public var height: Int

    public init(title: String, xLabel: String, yLabel: String, series: [ChartSeries],
                xRange: ClosedRange<Double>? = nil, yRange: ClosedRange<Double>? = nil, diagonal: Bool = false,
                integerX: Bool = false, legendAtTop: Bool = false, width: Int = 480, height: Int = 360) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.xRange = xRange
        self.yRange = yRange
        self.diagonal = diagonal
        self.integerX = integerX
        self.legendAtTop = legendAtTop
        self.width = width
        self.height = height
    }

    public func svg() -> String {
        let finite = { (v: Double) in v.isFinite }
        let xs = series.flatMap(\.x).filter(finite)
        let ys = series.flatMap { s in s.y + (s.band.map { $0.lower + $0.upper } ?? []) }.filter(finite)
        let xDomain = xRange ?? paddedRange(xs)
        let yDomain = yRange ?? paddedRange(ys)
        let frame = PlotFrame(width: width, height: height, x: xDomain, y: yDomain, integerX: integerX)
        var out = frame.open(title: title, xLabel: xLabel, yLabel: yLabel)
        if diagonal {
            let lo = max(xDomain.lowerBound, yDomain.lowerBound), hi = min(xDomain.upperBound, yDomain.upperBound)
            if lo < hi {
                out += "<line x1=\"\(f(frame.px(lo)))\" y1=\"\(f(frame.py(lo)))\" x2=\"\(f(frame.px(hi)))\" y2=\"\(f(frame.py(hi)))\" stroke=\"#999\" stroke-dasharray=\"4 4\"/>\n"
            }
        }
        for s in series {
            if let band = s.band {
                let upper = zip(s.x, band.upper).filter { $0.0.isFinite && $0.1.isFinite }
                let lower = zip(s.x, band.lower).filter { $0.0.isFinite && $0.1.isFinite }.reversed()
                let points = (upper + lower).map { "\(f(frame.px($0.0))),\(f(frame.py($0.1)))" }.joined(separator: " ")
                out += "<polygon points=\"\(points)\" fill=\"\(s.color)\" fill-opacity=\"0.18\" stroke=\"none\"/>\n"
            }
            let points = zip(s.x, s.y).filter { $0.0.isFinite && $0.1.isFinite }
                .map { "\(f(frame.px($0.0))),\(f(frame.py($0.1)))" }
            if points.count > 1 {
                out += "<polyline points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"2\""
                    + (s.dashed ? " stroke-dasharray=\"6 4\"" : "") + "/>\n"
            }
            if s.markers || points.count == 1 {
                for p in points {
                    let xy = p.split(separator: ",")
                    out += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"3.5\" fill=\"\(s.color)\"/>\n"
                }
            }
        }
        if series.count > 1 || (series.first.map { !$0.name.isEmpty } ?? false) {
            out += frame.legend(series.map { ($0.name, $0.color, $0.dashed) }, atTop: legendAtTop)
        }
        return out + "</svg>\n"
    }
}

/// A matrix of counts drawn as shaded cells, e.g. a confusion matrix (rows: truth, columns:
/// prediction). Shading follows the row-normalized value so that rare classes stay readable; each
/// cell prints the count and the row percentage.
public struct HeatmapChart: Sendable {
    public var title: String
    public var rowLabel: String
    public var columnLabel: String
    public var labels: [String]
    public var counts: [[Int]]

    public init(title: String, rowLabel: String, columnLabel: String, labels: [String], counts: [[Int]]) {
        self.title = title
        self.rowLabel = rowLabel
        self.columnLabel = columnLabel
        self.labels = labels
        self.counts = counts
    }

    public func svg() -> String {
        let n = counts.count
        let cell = max(28, min(90, 360 / max(n, 1)))
        let left = 130, top = 60
        let width = left + n * cell + 30, height = top + n * cell + 70
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        out += "<text x=\"\(width / 2)\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(xmlEscape(title))</text>\n"
        for i in 0..<n {
            let rowTotal = max(1, counts[i].reduce(0, +))
            for j in 0..<n {
                let fraction = Double(counts[i][j]) / Double(rowTotal)
                let x = left + j * cell, y = top + i * cell
                out += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell)\" height=\"\(cell)\" fill=\"#0072B2\" fill-opacity=\"\(f(0.05 + 0.9 * fraction))\" stroke=\"white\"/>\n"
                let textColor = fraction > 0.55 ? "white" : "black"
                if cell >= 44 {
                    out += "<text x=\"\(x + cell / 2)\" y=\"\(y + cell / 2 - 2)\" text-anchor=\"middle\" fill=\"\(textColor)\">\(counts[i][j])</text>\n"
                    out += "<text x=\"\(x + cell / 2)\" y=\"\(y + cell / 2 + 13)\" text-anchor=\"middle\" fill=\"\(textColor)\" font-size=\"10\">\(String(format: "%.0f%%", 100 * fraction))</text>\n"
                } else {
                    out += "<text x=\"\(x + cell / 2)\" y=\"\(y + cell / 2 + 4)\" text-anchor=\"middle\" fill=\"\(textColor)\" font-size=\"10\">\(counts[i][j])</text>\n"
                }
            }
            let label = i < labels.count ? labels[i] : "\(i)"
            out += "<text x=\"\(left - 6)\" y=\"\(top + i * cell + cell / 2 + 4)\" text-anchor=\"end\">\(xmlEscape(truncated(label, 18)))</text>\n"
            out += "<text transform=\"translate(\(left + i * cell + cell / 2),\(top + n * cell + 14)) rotate(30)\" text-anchor=\"start\">\(xmlEscape(truncated(label, 14)))</text>\n"
        }
        out += "<text x=\"\(left + n * cell / 2)\" y=\"\(height - 8)\" text-anchor=\"middle\">\(xmlEscape(columnLabel))</text>\n"
        out += "<text transform=\"translate(16,\(top + n * cell / 2)) rotate(-90)\" text-anchor=\"middle\">\(xmlEscape(rowLabel))</text>\n"
        return out + "</svg>\n"
    }
}

/// Axes, ticks and the mapping from data to pixels shared by the charts.
struct PlotFrame {
    let width: Int, height: Int
    let x: ClosedRange<Double>, y: ClosedRange<Double>
    var integerX = false
    let left = 62.0, right = 16.0, top = 36.0, bottom = 48.0

    var plotWidth: Double { Double(width) - left - right }
    var plotHeight: Double { Double(height) - top - bottom }
    func px(_ v: Double) -> Double { left + (v - x.lowerBound) / max(x.upperBound - x.lowerBound, 1e-300) * plotWidth }
    func py(_ v: Double) -> Double { top + plotHeight - (v - y.lowerBound) / max(y.upperBound - y.lowerBound, 1e-300) * plotHeight }

    func open(title: String, xLabel: String, yLabel: String) -> String {
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        out += "<text x=\"\(f(left + plotWidth / 2))\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">\(xmlEscape(title))</text>\n"
        for t in niceTicks(x, minimumStep: integerX ? 1 : 0) {
            let p = px(t)
            out += "<line x1=\"\(f(p))\" y1=\"\(f(top))\" x2=\"\(f(p))\" y2=\"\(f(top + plotHeight))\" stroke=\"#eee\"/>\n"
            out += "<text x=\"\(f(p))\" y=\"\(f(top + plotHeight + 16))\" text-anchor=\"middle\">\(tickLabel(t))</text>\n"
        }
        for t in niceTicks(y) {
            let p = py(t)
            out += "<line x1=\"\(f(left))\" y1=\"\(f(p))\" x2=\"\(f(left + plotWidth))\" y2=\"\(f(p))\" stroke=\"#eee\"/>\n"
            out += "<text x=\"\(f(left - 6))\" y=\"\(f(p + 4))\" text-anchor=\"end\">\(tickLabel(t))</text>\n"
        }
        out += "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"#444\"/>\n"
        out += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(height - 10)\" text-anchor=\"middle\">\(xmlEscape(xLabel))</text>\n"
        out += "<text transform=\"translate(16,\(f(top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(xmlEscape(yLabel))</text>\n"
        return out
    }

    func legend(_ entries: [(String, String, Bool)], atTop: Bool) -> String {
        let lineHeight = 16.0
        let boxWidth = min(Double(width) / 2, 24 + 7 * Double(entries.map(\.0.count).max() ?? 0))
        let x0 = left + plotWidth - boxWidth - 8
        let y0 = atTop ? top + 6 : top + plotHeight - lineHeight * Double(entries.count) - 12
        var out = "<rect x=\"\(f(x0))\" y=\"\(f(y0))\" width=\"\(f(boxWidth))\" height=\"\(f(lineHeight * Double(entries.count) + 8))\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n"
        for (k, entry) in entries.enumerated() {
            let y = y0 + 4 + lineHeight * (Double(k) + 0.5)
            out += "<line x1=\"\(f(x0 + 4))\" y1=\"\(f(y))\" x2=\"\(f(x0 + 20))\" y2=\"\(f(y))\" stroke=\"\(entry.1)\" stroke-width=\"2\"" + (entry.2 ? " stroke-dasharray=\"4 3\"" : "") + "/>\n"
            out += "<text x=\"\(f(x0 + 24))\" y=\"\(f(y + 4))\">\(xmlEscape(entry.0))</text>\n"
        }
        return out
    }
}

/// A range around `values` with 5% margins (a unit range around a constant).
func paddedRange(_ values: [Double]) -> ClosedRange<Double> {
    guard let lo = values.min(), let hi = values.max() else { return 0...1 }
    if lo == hi { return (lo - 0.5)...(hi + 0.5) }
    let margin = 0.05 * (hi - lo)
    return (lo - margin)...(hi + margin)
}

/// Tick positions at 1, 2 or 5 × 10^k spacing, about five of them.
func niceTicks(_ range: ClosedRange<Double>, target: Int = 5, minimumStep: Double = 0) -> [Double] {
    let span = range.upperBound - range.lowerBound
    guard span > 0, span.isFinite else { return [range.lowerBound] }
    let raw = span / Double(target)
    let magnitude = pow(10, (log10(raw)).rounded(.down))
    let step = max(minimumStep, [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude)
    var ticks: [Double] = []
    var t = (range.lowerBound / step).rounded(.up) * step
    while t <= range.upperBound + step * 1e-9 {
        ticks.append(abs(t) < step * 1e-9 ? 0 : t)
        t += step
    }
    return ticks
}

func tickLabel(_ v: Double) -> String {
    if v == v.rounded() && abs(v) < 1e6 { return String(Int(v)) }
    var s = String(format: "%.3g", v)
    if s.hasPrefix("0.") == false, s.contains("e") { s = String(format: "%.2e", v) }
    return s
}

func f(_ v: Double) -> String { String(format: "%.1f", v) }

func truncated(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }

/// Text safe inside SVG/HTML elements and attribute values.
public func xmlEscape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.count)
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&#39;"
        default: out.append(c)
        }
    }
    return out
}
