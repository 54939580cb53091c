"""seqcnn.workflows"""
