-- wrk: GET the path in PATH_PREFIX (default /validate_number/?number=)
-- with the next number of NUMBERS (a file of E.164 numbers, one a line),
-- round robin, so every request parses a different number.
local numbers = {}
local i = 0
local prefix = os.getenv("PATH_PREFIX") or "/validate_number/?number="

function init(args)
  for line in io.lines(os.getenv("NUMBERS")) do
    numbers[#numbers + 1] = (line:gsub("%+", "%%2B"))
  end
  -- Each wrk thread starts at its own place in the list.
  i = math.random(#numbers)
end

function request()
  i = i % #numbers + 1
  return wrk.format("GET", prefix .. numbers[i])
end
