"""Reports: the run summary (:mod:`.summary`), and the HTML report (:mod:`.build`) made of a
source (:mod:`.source`), its profile (:mod:`.profile`), plots (:mod:`.plots`), sections
(:mod:`.sections`), drift (:mod:`.drift`), bias (:mod:`.bias`) and a datasheet (:mod:`.datasheet`)."""
