/**
 * Durations typed on the command line: `500ms`, `30s`, `30 seconds`, `10m`, `10 minutes`, `1h`,
 * `1 day`. A number (up to 3 decimals) and a unit; nothing else.
 */
import { Duration } from "effect"

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
