/// Stops the program with `message` when `condition` is false.
///
/// Galen's guard against API misuse (shape mismatches, bad axes). Unlike `precondition`, whose
/// message is dropped in optimized builds, the message naming the op and the shapes is printed in
/// every build configuration.
@inline(__always)
public func check(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
    file: StaticString = #fileID, line: UInt = #line
) {
    if _slowPath(!condition()) { fatalError(message(), file: file, line: line) }
}
