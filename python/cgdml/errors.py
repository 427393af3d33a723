"""errors.py - the exceptions of the cgdml package.

Every failure of the library becomes a subclass of ``cgdml.Error`` carrying the
library's own message (cgdml_error_message(), include/cgdml/error.h) and its
status code.  Each subclass also derives from the built-in exception a Python
programmer would expect for that kind of failure, so ``except ValueError`` or
``except OSError`` catch them too:

======================  ==================  ========================================
cgdml status            exception           also a
======================  ==================  ========================================
CGDML_ERR_INVALID (1)   InvalidError        ValueError
CGDML_ERR_IO (2)        FileError           OSError
CGDML_ERR_FORMAT (3)    FormatError         ValueError
CGDML_ERR_NOMEM (4)     MemoryBudgetError   MemoryError
CGDML_ERR_NUMERIC (5)   NumericError        ArithmeticError
======================  ==================  ========================================

Arguments the package refuses before calling the library (a wrong array shape,
dtype or an unknown option name) raise a plain ``ValueError`` or ``TypeError``.
"""


class Error(Exception):
    """A failure reported by libcgdml: ``status`` is the cgdml_status code and
    ``message`` the library's message."""

    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class InvalidError(Error, ValueError):
    """A bad argument or an impossible hyperparameter (CGDML_ERR_INVALID)."""
    status = 1


class FileError(Error, OSError):
    """A file that cannot be opened, read or written (CGDML_ERR_IO)."""
    status = 2


class FormatError(Error, ValueError):
    """A file whose content is not what cgdml expects (CGDML_ERR_FORMAT)."""
    status = 3


class MemoryBudgetError(Error, MemoryError):
    """An allocation that failed or exceeds the memory budget (CGDML_ERR_NOMEM)."""
    status = 4


class NumericError(Error, ArithmeticError):
    """NaN/Inf, or a matrix that is not positive definite (CGDML_ERR_NUMERIC)."""
    status = 5


class LibraryNotFoundError(Error, ImportError):
    """libcgdml.so could not be found or loaded (see cgdml._lib)."""
    status = None


_BY_STATUS = {cls.status: cls for cls in
              (InvalidError, FileError, FormatError, MemoryBudgetError, NumericError)}


def error_for_status(status, message):
    """The exception for a cgdml_status and its message."""
    return _BY_STATUS.get(status, Error)(message, status)
