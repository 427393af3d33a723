"""cgdml.ase - an ASE calculator for a cgdml model, in the spirit of sGDML's
SGDMLCalculator.

    from cgdml.ase import Calculator
    atoms.calc = Calculator("model.h5")      # or a cgdml.Model
    atoms.get_forces()                        # eV/Å
    atoms.get_potential_energy()              # eV, up to a constant

The atoms are the model's CG beads, in the model's bead order (one ASE atom per
bead; their chemical symbols are not used).  cgdml works in Å and kcal/mol
(docs/FORMATS.md): positions go in unchanged (ASE's length unit is Å), and the
model's forces (kcal/mol/Å) and energies (kcal/mol, up to a constant, kernel part
plus prior) are converted to ASE's eV/Å and eV with ``ase.units.kcal / ase.units.mol``
(0.0433641 eV per kcal/mol).  Periodic boundaries are ignored, as the model has
none.  Needs python3-ase.
"""
import ase.units
from ase.calculators.calculator import Calculator as _AseCalculator
from ase.calculators.calculator import all_changes

from .model import Model

#: eV per kcal/mol.
KCAL_MOL_IN_EV = ase.units.kcal / ase.units.mol


class CGDMLCalculator(_AseCalculator):
    """ASE calculator for a cgdml model (a cgdml.Model or the path of a model file).

    ``check`` (default True) has the library check every configuration first
    (finite coordinates, no coinciding beads), raising a cgdml.Error with its
    message instead of returning NaN."""

    implemented_properties = ["energy", "forces", "free_energy"]

    def __init__(self, model, check=True, **kwargs):
        super().__init__(**kwargs)
        self.model = model if isinstance(model, Model) else Model.load(model)
        self.check = check

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        x = self.atoms.get_positions()
        if x.shape[0] != self.model.n_beads:
            raise ValueError(f"the atoms are {x.shape[0]}, the model has "
                             f"{self.model.n_beads} beads")
        forces, energy = self.model.predict(x, energies=True, check=self.check)
        e = float(energy) * KCAL_MOL_IN_EV
        self.results["energy"] = e
        self.results["free_energy"] = e
        self.results["forces"] = forces * KCAL_MOL_IN_EV


#: The name the package documents: ``cgdml.ase.Calculator``.
Calculator = CGDMLCalculator
