import Foundation

// A calendar day (`LocalDay` in the core) crosses as `DateComponents` with `year`, `month`
// and `day` set (bindings/uniffi.toml calls these two functions from the generated code).
// Components without a year, month or day, or outside what they can hold, reach the core as
// an impossible day and come back as `GridWorkerError.InvalidInput` with `input == .day`, never
// as a crash. Build one with `DateComponents(year: 2026, month: 11, day: 30)`, or from a
// `Date` with `Calendar(identifier: .gregorian).dateComponents(in: district, from: date)`.

func localDayComponents(_ s: String) -> DateComponents {
    let parts = s.split(separator: "-").map { Int($0) }
    guard parts.count == 3, let y = parts[0], let m = parts[1], let d = parts[2] else {
        return DateComponents()
    }
    return DateComponents(calendar: Calendar(identifier: .gregorian), year: y, month: m, day: d)
}

func localDayString(_ c: DateComponents) -> String {
    guard let y = c.year, let m = c.month, let d = c.day, (0...9999).contains(y),
        (1...12).contains(m), (1...31).contains(d)
    else {
        return "0000-00-00"
    }
    return "\(padded(y, 4))-\(padded(m, 2))-\(padded(d, 2))"
}

private func padded(_ n: Int, _ width: Int) -> String {
    let digits = String(n)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}
