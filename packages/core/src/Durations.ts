/**
 * One duration convention for everything a person configures.
 *
 * - In code, options take a `Duration.Input` (`"10 minutes"`, `Duration.minutes(10)`, a number of
 *   milliseconds). `toMillis` checks it once, when a layer is built: a value that is not a duration,
 *   not positive or not finite is an `InvalidDuration` naming the option, never a defect.
 * - As text (command-line flags and `GATEHOUSE_*` environment variables) one grammar: a number (up
 *   to 3 decimals) and a unit, `500ms`, `30s`, `30 seconds`, `10m`, `10 minutes`, `1h`, `1 day`.
 *   `parse` reads it; `config(name)` reads it from the environment.
 */
import { Config, Duration, Effect, Option, Schema, SchemaIssue, SchemaTransformation } from "effect"

export class InvalidDuration extends Schema.TaggedError<InvalidDuration>()("InvalidDuration", {
  option: Schema.String,
  value: Schema.String
}) {
  override get message(): string {
    return `${this.option} must be a positive duration such as "10 minutes" or 10m (got ${this.value})`
  }
}

const show = (input: unknown): string => {
  try {
    return typeof input === "string" ? JSON.stringify(input) : String(input)
  } catch {
    return "a value that is not a duration"
  }
}

/** `input` (or `fallback` when absent) in milliseconds; positive and finite, else `InvalidDuration`. */
export const toMillis = (
  option: string,
  input: Duration.Input | undefined,
  fallback: Duration.Duration
): Effect.Effect<number, InvalidDuration> => {
  const duration = input === undefined ? Option.some(fallback) : Duration.fromInput(input)
  const millis = Option.isSome(duration) ? Duration.toMillis(duration.value) : Number.NaN
  return millis > 0 && Number.isFinite(millis)
    ? Effect.succeed(millis)
    : Effect.fail(new InvalidDuration({ option, value: show(input) }))
}

const second = 1_000
const minute = 60 * second
const hour = 60 * minute
const day = 24 * hour

const units: Readonly<Record<string, number>> = {
  ms: 1,
  milli: 1,
  millis: 1,
  millisecond: 1,
  milliseconds: 1,
  s: second,
  sec: second,
  secs: second,
  second,
  seconds: second,
  m: minute,
  min: minute,
  mins: minute,
  minute,
  minutes: minute,
  h: hour,
  hr: hour,
  hrs: hour,
  hour,
  hours: hour,
  d: day,
  day,
  days: day
}

const pattern = /^\s*(\d{1,9}(?:\.\d{1,3})?)\s*([A-Za-z]{1,12})\s*$/

/** The duration `text` names, if it is one of at least `min` (default 100 ms); never throws. */
export const parse = (text: string, min: Duration.Input = Duration.millis(100)): Duration.Duration | undefined => {
  const match = pattern.exec(text)
  if (match === null) return undefined
  const unit = Object.hasOwn(units, match[2]!.toLowerCase()) ? units[match[2]!.toLowerCase()] : undefined
  if (unit === undefined) return undefined
  const millis = Math.round(Number(match[1]) * unit)
  return Number.isFinite(millis) && millis >= Duration.toMillis(min) ? Duration.millis(millis) : undefined
}

/** A duration written in the grammar of `parse` (`10m`, `10 minutes`), decoded to a `Duration`. */
export const DurationText = Schema.String.pipe(Schema.decodeTo(
  Schema.Duration,
  SchemaTransformation.transformEffect<Duration.Duration, string>({
    decode: (text, options) => {
      const duration = parse(text)
      return duration === undefined
        ? Effect.fail(
          new SchemaIssue.InvalidValue(
            { message: `expected a duration such as 10m or "10 minutes"` },
            Option.some(text),
            options
          )
        )
        : Effect.succeed(duration)
    },
    encode: (duration) => Effect.succeed(`${Duration.toMillis(duration)}ms`)
  })
))

/** An optional duration from the environment variable `name`, in the grammar of `parse`. */
export const config = (name: string): Config.Config<Option.Option<Duration.Duration>> =>
  Config.option(Config.schema(DurationText, name))
